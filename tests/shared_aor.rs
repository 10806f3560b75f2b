//! Two Asterisk registrations of one AOR to one registrar (an admin trying
//! a right and a wrong password): each keeps its own events when their
//! Contact users differ; when nothing tells them apart, neither gets the
//! other's events, and both carry a note that says so.
use regwatch::hosts::asterisk::{AsteriskSession, RegistryEvent};
use regwatch::hosts::settings::HostSettings;
use regwatch::{Cause, Direction, Engine, EngineConfig, RegState, SipObserved};

fn conf(good_contact: &str, bad_contact: &str) -> String {
    format!(
        "[good-auth]\ntype=auth\nusername=alice\npassword=Alice-Passw0rd-1\n\
         [bad-auth]\ntype=auth\nusername=alice\npassword=Not-The-Passw0rd-9\n\
         [good]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\n\
         client_uri=sip:alice@acme.sip.twilio.com\noutbound_auth=good-auth\n{good_contact}\
         [bad]\ntype=registration\nserver_uri=sip:acme.sip.twilio.com\n\
         client_uri=sip:alice@acme.sip.twilio.com\noutbound_auth=bad-auth\n{bad_contact}"
    )
}

fn register(call_id: &str, contact_user: &str, cseq: u32, auth: bool) -> String {
    let authz = if auth {
        "Proxy-Authorization: Digest username=\"alice\", realm=\"sip.twilio.com\", nonce=\"n\", uri=\"sip:acme.sip.twilio.com\", response=\"0\"\r\n"
    } else {
        ""
    };
    format!(
        "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sip:alice@acme.sip.twilio.com>;tag={call_id}\r\n\
         To: <sip:alice@acme.sip.twilio.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{contact_user}@127.0.0.1:5070>\r\nExpires: 600\r\n\
         {authz}Content-Length: 0\r\n\r\n"
    )
}

fn response(call_id: &str, contact_user: &str, cseq: u32, code: u16) -> String {
    let extra = match code {
        200 => format!("Contact: <sip:{contact_user}@127.0.0.1:5070>;expires=600\r\n"),
        407 => "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n\"\r\n".to_owned(),
        _ => String::new(),
    };
    format!(
        "SIP/2.0 {code} X\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sip:alice@acme.sip.twilio.com>;tag={call_id}\r\n\
         To: <sip:alice@acme.sip.twilio.com>;tag=r\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// One attempt of a registration: REGISTER, 407, REGISTER with
/// credentials, `last`. Returns what the engine made of the first REGISTER.
fn attempt(e: &mut Engine, at: u64, call_id: &str, contact: &str, last: u16) -> SipObserved {
    let mut sip = |at: u64, d, m: String| e.observe_sip(at, d, None, m.as_bytes()).unwrap();
    let first = sip(at, Direction::Sent, register(call_id, contact, 1, false));
    sip(
        at + 10,
        Direction::Received,
        response(call_id, contact, 1, 407),
    );
    sip(
        at + 20,
        Direction::Sent,
        register(call_id, contact, 2, true),
    );
    sip(
        at + 30,
        Direction::Received,
        response(call_id, contact, 2, last),
    );
    first
}

fn setup(text: &str) -> (Engine, AsteriskSession) {
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    let mut s = AsteriskSession::new();
    s.pjsip_conf(&mut e, 0, &HostSettings::new(), text).unwrap();
    while e.poll_output().is_some() {}
    (e, s)
}

fn state(e: &Engine, name: &str) -> (RegState, Cause) {
    e.trunk_state(e.find_trunk(name).unwrap()).unwrap()
}

fn note(e: &Engine, name: &str) -> regwatch::Finding {
    let snap = e.snapshot(e.find_trunk(name).unwrap()).unwrap();
    snap.findings
        .iter()
        .find(|f| f.code == "asterisk.shared_aor")
        .cloned()
        .unwrap_or_else(|| panic!("{name}: no shared_aor note in {:?}", snap.findings))
}

#[test]
fn different_contact_users_keep_each_registrations_events() {
    let (mut e, s) = setup(&conf("contact_user=good\n", "contact_user=bad\n"));
    // Both orders, and through several refreshes.
    for round in 0..3u64 {
        let at = 1_000 + round * 590_000;
        attempt(&mut e, at, "bad-call", "bad", 403);
        attempt(&mut e, at + 100, "good-call", "good", 200);
        assert_eq!(
            state(&e, "good"),
            (RegState::Registered, Cause::Healthy),
            "{round}"
        );
        assert_eq!(
            state(&e, "bad"),
            (RegState::Rejected, Cause::CredentialsRejected),
            "{round}"
        );
    }
    // Asterisk's Registry events name only the URIs: not filed under
    // either (the good one's "Registered" must not clear the bad one).
    let json = r#"{"type":"registry","channeltype":"PJSIP","username":"sip:alice@acme.sip.twilio.com","domain":"sip:acme.sip.twilio.com","status":"Registered","cause":""}"#;
    assert!(RegistryEvent::from_json(json).is_ok());
    let _ = s.registry_json(&mut e, 2_000_000, json);
    assert_eq!(
        state(&e, "bad"),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    let n = note(&e, "good");
    assert_eq!(n.severity, regwatch::core::Severity::Info);
    assert!(n.message.contains("[bad]"), "{}", n.message);
}

#[test]
fn the_same_contact_user_files_events_under_neither() {
    // Asterisk's default Contact user `s` for both.
    let (mut e, _) = setup(&conf("", ""));
    let seen = attempt(&mut e, 1_000, "bad-call", "s", 403);
    assert!(matches!(seen, SipObserved::Unmatched), "{seen:?}");
    attempt(&mut e, 2_000, "good-call", "s", 200);
    for name in ["good", "bad"] {
        assert_eq!(
            state(&e, name),
            (RegState::Unknown, Cause::Unknown),
            "{name}"
        );
        let n = note(&e, name);
        assert_eq!(n.severity, regwatch::core::Severity::Warning);
        assert!(
            n.message.contains("files their events under neither"),
            "{}",
            n.message
        );
    }
    assert!(note(&e, "good").message.contains("[bad]"));
    assert!(note(&e, "bad").message.contains("[good]"));
}

#[test]
fn a_lone_registration_is_matched_as_before() {
    let text = conf("contact_user=good\n", "contact_user=bad\n").replace(
        "client_uri=sip:alice@acme.sip.twilio.com\noutbound_auth=bad-auth",
        "client_uri=sip:bob@acme.sip.twilio.com\noutbound_auth=bad-auth",
    );
    let (mut e, _) = setup(&text);
    // A Contact user nobody configured still reaches the one owner.
    attempt(&mut e, 1_000, "good-call", "someone-else", 200);
    assert_eq!(state(&e, "good"), (RegState::Registered, Cause::Healthy));
    let snap = e.snapshot(e.find_trunk("good").unwrap()).unwrap();
    assert!(snap
        .findings
        .iter()
        .all(|f| f.code != "asterisk.shared_aor"));
}
