//! One failure, one cause, whichever way the evidence arrives: the engine's
//! own observations (what raw SIP gives), an Asterisk log line or Registry
//! event, or a FreeSWITCH gateway event.
use regwatch::hosts::asterisk::{parse_log_line, AsteriskConfig, RegistryEvent};
use regwatch::hosts::freeswitch::{GatewayEvent, GatewayInfo, GatewayTracker};
use regwatch::hosts::{self, Fact, FactKind, OwnedChallenge, OwnedResponse};
use regwatch::{
    Cause, Engine, EngineConfig, RegisterSent, Transport, TransportErrorKind, TrunkConfig,
};

const SERVER: &str = "sip:acme.sip.twilio.com";
const CLIENT: &str = "sip:office@acme.sip.twilio.com";

fn trunk() -> TrunkConfig {
    let mut c = TrunkConfig::new("t");
    c.set("domain", "acme.sip.twilio.com").unwrap();
    c.set("username", "office").unwrap();
    c.set("password", "Str0ngPassw0rdX").unwrap();
    c.set("transport", "udp").unwrap();
    c.set("expires", "600").unwrap();
    c
}

/// The cause after feeding the facts to a fresh engine with trunk `t`.
fn cause_of(facts: &[Fact]) -> Cause {
    let mut e = Engine::new(EngineConfig::default(), 0, 9);
    let id = e.add_trunk(0, trunk()).unwrap();
    for (i, f) in facts.iter().enumerate() {
        let r = hosts::apply(&mut e, 1000 * (i as u64 + 1), std::slice::from_ref(f));
        assert!(r[0].1.is_ok());
    }
    while e.poll_output().is_some() {}
    e.trunk_state(id).unwrap().1
}

fn native(kinds: Vec<FactKind>) -> Vec<Fact> {
    kinds.into_iter().map(|k| Fact::new("t", k)).collect()
}

fn sent(creds: bool) -> FactKind {
    FactKind::RegisterSent(RegisterSent {
        expires: Some(600),
        with_credentials: creds,
        transport: Some(Transport::Udp),
        credentials_unknown: false,
    })
}

fn resp(code: u16) -> FactKind {
    let mut r = OwnedResponse::new(code, hosts::reason_phrase(code));
    if code == 407 {
        r.challenge = Some(OwnedChallenge {
            realm: "sip.twilio.com".into(),
            qop: Some("auth".into()),
            ..OwnedChallenge::default()
        });
    }
    FactKind::RegisterResponse(r)
}

fn asterisk(line: &str) -> Vec<Fact> {
    let conf = AsteriskConfig::from_pjsip_conf(&format!(
        "[t]\ntype=registration\nserver_uri={SERVER}\nclient_uri={CLIENT}\noutbound_auth=a\nexpiration=600\n\
         [a]\ntype=auth\nusername=office\npassword=Str0ngPassw0rdX\n"
    ));
    let line = line.replace("{S}", SERVER).replace("{C}", CLIENT);
    parse_log_line(&line)
        .expect("a registration line")
        .event
        .facts(&conf.index())
        .unwrap()
}

/// FreeSWITCH `gateway_state` events, compact-form headers as `k=v` pairs
/// separated by `|`.
fn freeswitch(events: &[&str]) -> Vec<Fact> {
    let mut tr = GatewayTracker::new();
    tr.set_info(
        "t",
        GatewayInfo {
            has_credentials: true,
            expires: Some(600),
            transport: Some(Transport::Udp),
            registers: true,
        },
    );
    let mut out = Vec::new();
    for e in events {
        let mut h = vec![
            (
                "Event-Subclass".to_owned(),
                "sofia::gateway_state".to_owned(),
            ),
            ("Gateway".to_owned(), "t".to_owned()),
        ];
        for kv in e.split('|') {
            let (k, v) = kv.split_once('=').unwrap();
            h.push((k.to_owned(), v.to_owned()));
        }
        out.extend(tr.handle(&GatewayEvent::from_headers(&h).unwrap()).facts);
    }
    out
}

const FS_NET: &str = "Register-Network-IP=203.0.113.5|Register-Network-Port=5060";

/// On the wire a 403 after the credentials is a credential failure. The
/// hosts' own reports (Asterisk's log line, FreeSWITCH's FAILED 403) give
/// only the final 403, which a registration-off domain also sends before
/// any challenge: they say the credentials are unknown, and the engine
/// does not blame them without more evidence (the account query, see
/// tests/keepalive.rs).
#[test]
fn a_403_after_credentials_is_credentials_rejected_on_the_wire_only() {
    let raw = native(vec![sent(false), resp(407), sent(true), resp(403)]);
    assert_eq!(cause_of(&raw), Cause::CredentialsRejected, "{raw:?}");
    let ast = asterisk("Fatal response '403' received from '{S}' on registration attempt to '{C}', stopping outbound registration");
    let fs = freeswitch(&[
        "State=TRYING",
        &format!("State=FAILED|{FS_NET}|Phrase=Forbidden|Status=403"),
    ]);
    for facts in [&ast, &fs] {
        assert!(
            facts.iter().any(|f| matches!(
                &f.kind,
                FactKind::RegisterSent(s) if s.credentials_unknown
            )),
            "{facts:?}"
        );
        assert_eq!(cause_of(facts), Cause::AccountForbidden, "{facts:?}");
    }
}

#[test]
fn a_challenge_after_credentials_is_credentials_rejected_three_ways() {
    let raw = native(vec![sent(false), resp(407), sent(true), resp(407)]);
    let ast = asterisk("Fatal response '407' received from '{S}' on registration attempt to '{C}', stopping outbound registration");
    let fs = freeswitch(&[
        "State=TRYING",
        "State=FAILED|Phrase=Operation has no matching challenge |Status=904",
    ]);
    for facts in [&raw, &ast, &fs] {
        assert_eq!(cause_of(facts), Cause::CredentialsRejected, "{facts:?}");
    }
}

#[test]
fn a_404_is_domain_not_found_three_ways() {
    let raw = native(vec![sent(false), resp(404)]);
    let ast = asterisk("Fatal response '404' received from '{S}' on registration attempt to '{C}', stopping outbound registration");
    let fs = freeswitch(&[
        "State=TRYING",
        &format!("State=FAILED|{FS_NET}|Phrase=Not Found|Status=404"),
    ]);
    for facts in [&raw, &ast, &fs] {
        assert_eq!(cause_of(facts), Cause::DomainNotFound, "{facts:?}");
    }
}

#[test]
fn no_answer_is_registrar_unreachable_four_ways() {
    let raw = native(vec![
        sent(false),
        FactKind::RegisterTimeout {
            transport: Some(Transport::Udp),
        },
    ]);
    let ast = asterisk(
        "No response received from '{S}' on registration attempt to '{C}', retrying in '60'",
    );
    let fs_timeout = freeswitch(&["State=TRYING", "State=TIMEOUT", "State=FAILED"]);
    let fs_408 = freeswitch(&[
        "State=TRYING",
        "State=FAILED|Register-Network-IP=203.0.113.5|Register-Network-Port=0|Phrase=Request Timeout|Status=408",
    ]);
    for facts in [&raw, &ast, &fs_timeout, &fs_408] {
        assert_eq!(cause_of(facts), Cause::RegistrarUnreachable, "{facts:?}");
    }
}

#[test]
fn a_refused_connection_is_connection_refused_both_ways() {
    let raw = native(vec![
        sent(false),
        FactKind::TransportError {
            transport: Some(Transport::Udp),
            kind: TransportErrorKind::Refused,
            detail: None,
        },
    ]);
    let fs = freeswitch(&[
        "State=TRYING",
        "State=FAILED|Phrase=Service Unavailable|Status=503",
    ]);
    for facts in [&raw, &fs] {
        assert_eq!(cause_of(facts), Cause::ConnectionRefused, "{facts:?}");
    }
}

#[test]
fn a_503_from_the_registrar_is_server_error_three_ways() {
    let raw = native(vec![sent(false), resp(503)]);
    let ast = asterisk(
        "Temporal response '503' received from '{S}' on registration attempt to '{C}', retrying in '60'",
    );
    let fs = freeswitch(&[
        "State=TRYING",
        &format!("State=FAILED|{FS_NET}|Phrase=Service Unavailable|Status=503"),
    ]);
    for facts in [&raw, &ast, &fs] {
        assert_eq!(cause_of(facts), Cause::ServerError, "{facts:?}");
    }
}

#[test]
fn success_is_healthy_three_ways() {
    let mut ok = OwnedResponse::new(200, "OK");
    ok.granted_expires = Some(600);
    ok.contact_bound = Some(true);
    let raw = native(vec![
        sent(false),
        resp(407),
        sent(true),
        FactKind::RegisterResponse(ok),
    ]);
    let conf = AsteriskConfig::from_pjsip_conf(&format!(
        "[t]\ntype=registration\nserver_uri={SERVER}\nclient_uri={CLIENT}\n"
    ));
    let ast = RegistryEvent::from_json(&format!(
        r#"{{"type":"registry","channeltype":"PJSIP","username":"{CLIENT}","domain":"{SERVER}","status":"Registered","cause":""}}"#
    ))
    .unwrap()
    .facts(&conf.index())
    .unwrap();
    let fs = freeswitch(&[
        "State=TRYING",
        &format!("State=REGISTER|{FS_NET}|Phrase=OK|Status=200"),
        &format!("State=REGED|{FS_NET}"),
    ]);
    for facts in [&raw, &ast, &fs] {
        assert_eq!(cause_of(facts), Cause::Healthy, "{facts:?}");
    }
}
