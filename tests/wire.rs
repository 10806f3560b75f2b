//! Raw-SIP observation on the captured Asterisk run: every REGISTER and
//! response the SIPp registrars saw, fed as the host saw them, gives each
//! trunk its exact cause where Asterisk's Registry events alone give
//! "rejected, cause unknown".
use regwatch::hosts::asterisk::AsteriskConfig;
use regwatch::{Cause, Direction, Engine, EngineConfig, RegState, SipObserved, Transport};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/asterisk");

/// (direction as the *host* saw it, message) from a SIPp `-trace_msg` log.
fn sipp_log(path: &str) -> Vec<(Direction, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for block in text.split("-----------------------------------------------") {
        let Some(first_nl) = block.trim_start().find('\n') else {
            continue;
        };
        let body = &block.trim_start()[first_nl + 1..];
        let dir = if body.contains("message received") {
            Direction::Sent // the registrar received what the host sent
        } else if body.contains("message sent") {
            Direction::Received
        } else {
            continue;
        };
        let Some(start) = body.find("\n\n") else {
            continue;
        };
        let msg = body[start + 2..].trim_start_matches('\n');
        if !msg.trim().is_empty() {
            out.push((dir, msg.to_owned()));
        }
    }
    out
}

fn engine() -> Engine {
    let conf = std::fs::read_to_string(format!("{FIX}/pjsip.conf")).unwrap();
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    for t in AsteriskConfig::from_pjsip_conf(&conf).trunks() {
        engine.add_trunk(0, t.config).unwrap();
    }
    engine
}

fn state(e: &Engine, name: &str) -> (RegState, Cause) {
    e.trunk_state(e.find_trunk(name).unwrap()).unwrap()
}

#[test]
fn raw_sip_gives_the_exact_cause() {
    let mut e = engine();
    let mut now = 0;
    let mut retrans = 0;
    for port in [15060, 15061, 15062, 15063] {
        for (dir, msg) in sipp_log(&format!("{FIX}/sip-messages/msg_{port}.log")) {
            now += 10;
            match e
                .observe_sip(now, dir, Some(Transport::Udp), msg.as_bytes())
                .unwrap()
            {
                SipObserved::Unmatched => panic!("unmatched: {msg}"),
                SipObserved::Retransmission(_) => retrans += 1,
                _ => {}
            }
        }
    }
    // reg-ok registered, and at the end of the capture Asterisk sent
    // Expires: 0 (shutdown), which the registrar accepted.
    assert_eq!(
        state(&e, "reg-ok"),
        (RegState::Deregistered, Cause::Deregistered)
    );
    let hist = e.snapshot(e.find_trunk("reg-ok").unwrap()).unwrap().history;
    assert!(hist
        .iter()
        .any(|h| h.state == RegState::Registered && h.cause == Cause::Healthy));
    // reg-403's registrar answers 403 to the REGISTER before any challenge:
    // registration is not allowed, whatever the password.
    assert_eq!(
        state(&e, "reg-403"),
        (RegState::Rejected, Cause::AccountForbidden)
    );
    assert_eq!(
        state(&e, "reg-404"),
        (RegState::Rejected, Cause::DomainNotFound)
    );
    assert_eq!(
        state(&e, "reg-401"),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    let _ = retrans;
}

#[test]
fn options_are_not_registration() {
    let mut e = engine();
    for (dir, msg) in sipp_log(&format!("{FIX}/sip-messages/msg_15065.log")) {
        assert_eq!(
            e.observe_sip(1, dir, None, msg.as_bytes()).unwrap(),
            SipObserved::NotRegistration,
            "{msg}"
        );
    }
}

#[test]
fn retransmissions_count_once_and_bindings_are_matched() {
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    let mut cfg = regwatch::TrunkConfig::new("office");
    cfg.set("domain", "acme.sip.twilio.com").unwrap();
    cfg.set("username", "office").unwrap();
    let id = e.add_trunk(0, cfg).unwrap();
    let register = |cseq: u32, branch: &str, auth: bool| {
        format!(
            "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
             From: <sip:office@acme.sip.twilio.com>;tag=a1\r\n\
             To: <sip:office@acme.sip.twilio.com>\r\n\
             Call-ID: reg-1@192.0.2.10\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:office@192.0.2.10:5060;transport=udp>\r\n\
             Expires: 3600\r\n{}\
             Content-Length: 0\r\n\r\n",
            if auth {
                "Proxy-Authorization: Digest username=\"office\", realm=\"sip.twilio.com\", nonce=\"n\", uri=\"sip:acme.sip.twilio.com\", response=\"00\"\r\n"
            } else {
                ""
            }
        )
    };
    let response = |cseq: u32, status: &str, extra: &str| {
        format!(
            "SIP/2.0 {status}\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=x;rport=5060\r\n\
             From: <sip:office@acme.sip.twilio.com>;tag=a1\r\n\
             To: <sip:office@acme.sip.twilio.com>;tag=b2\r\n\
             Call-ID: reg-1@192.0.2.10\r\n\
             CSeq: {cseq} REGISTER\r\n{extra}\
             Content-Length: 0\r\n\r\n"
        )
    };
    let s = |m: String| m.into_bytes();
    use Direction::*;
    assert_eq!(
        e.observe_sip(0, Sent, None, &s(register(1, "z9hG4bK1", false)))
            .unwrap(),
        SipObserved::Register(id)
    );
    assert_eq!(
        e.observe_sip(500, Sent, None, &s(register(1, "z9hG4bK1", false)))
            .unwrap(),
        SipObserved::Retransmission(id)
    );
    let challenge = "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n\", qop=\"auth\", opaque=\"o\"\r\n";
    assert_eq!(
        e.observe_sip(
            600,
            Received,
            None,
            &s(response(1, "407 Proxy Authentication Required", challenge))
        )
        .unwrap(),
        SipObserved::Response(id)
    );
    assert_eq!(
        e.observe_sip(
            650,
            Received,
            None,
            &s(response(1, "407 Proxy Authentication Required", challenge))
        )
        .unwrap(),
        SipObserved::Retransmission(id)
    );
    assert_eq!(
        e.observe_sip(700, Sent, None, &s(register(2, "z9hG4bK2", true)))
            .unwrap(),
        SipObserved::Register(id)
    );
    assert_eq!(
        e.observe_sip(710, Received, None, &s(response(2, "100 Trying", "")))
            .unwrap(),
        SipObserved::Provisional(id)
    );
    let contacts = "Contact: <sip:other@203.0.113.5:5060>;expires=1200, <sip:office@192.0.2.10:5060;transport=udp>;expires=3600\r\nServer: Twilio\r\n";
    assert_eq!(
        e.observe_sip(750, Received, None, &s(response(2, "200 OK", contacts)))
            .unwrap(),
        SipObserved::Response(id)
    );
    assert_eq!(
        e.trunk_state(id).unwrap(),
        (RegState::Registered, Cause::Healthy)
    );
    assert_eq!(e.snapshot(id).unwrap().granted_expires, Some(3600));
    // A 200 OK that lists only someone else's binding: not bound.
    assert_eq!(
        e.observe_sip(1_800_000, Sent, None, &s(register(3, "z9hG4bK3", true)))
            .unwrap(),
        SipObserved::Register(id)
    );
    let others = "Contact: <sip:other@203.0.113.5:5060>;expires=1200\r\n";
    e.observe_sip(1_800_050, Received, None, &s(response(3, "200 OK", others)))
        .unwrap();
    assert_eq!(e.trunk_state(id).unwrap().1, Cause::ContactNotBound);
    // A late answer to the old CSeq is stale.
    assert_eq!(
        e.observe_sip(
            1_800_060,
            Received,
            None,
            &s(response(2, "200 OK", contacts))
        )
        .unwrap(),
        SipObserved::Stale(id)
    );
    assert!(e.observe_sip(1, Sent, None, b"garbage").is_err());
}
