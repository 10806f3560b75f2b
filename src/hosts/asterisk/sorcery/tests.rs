//! Tests of the sorcery object sets and the trunks they describe.
use super::*;

fn codes_of(t: &AsteriskTrunk) -> Vec<&'static str> {
    t.notes.iter().map(|n| n.code).collect()
}

#[test]
fn duplicate_sections_of_one_type() {
    let c = AsteriskConfig::from_pjsip_conf(
        "[r]\ntype=registration\nserver_uri=sip:h\nclient_uri=sip:u@h\noutbound_auth=a\n\
         [a]\ntype=auth\nusername=first\npassword=Str0ng-Passw0rd-1x\n\
         [a]\ntype=auth\nusername=second\npassword=Str0ng-Passw0rd-2x\n\
         [r2]\ntype=registration\nserver_uri=sip:h\nclient_uri=sip:v@h\noutbound_auth=b\n\
         [b]\ntype=auth\nusername=v\n[b]\ntype=aor\n\
         [r2]\ntype=registration\nserver_uri=sip:h\nclient_uri=sip:w@h\n",
    );
    let t = c.trunks();
    assert_eq!(t.len(), 3);
    // The first [a] is the one read, and the duplicate is an error.
    assert_eq!(t[0].config.auth_username.as_deref(), Some("first"));
    assert!(codes_of(&t[0]).contains(&codes::ASTERISK_DUPLICATE_OBJECT));
    // [b] twice, but of two types: no duplicate auth; [r2] twice is.
    let dups = |t: &AsteriskTrunk| {
        t.notes
            .iter()
            .filter(|n| n.code == codes::ASTERISK_DUPLICATE_OBJECT)
            .map(|n| n.field)
            .collect::<Vec<_>>()
    };
    assert_eq!(dups(&t[1]), ["registration"]);
    assert_eq!(dups(&t[2]), ["registration"]);
    assert_eq!(c.auth("a").unwrap().username, "first");
    assert_eq!(c.trunk(&c.registrations[0]), t[0]);
}
