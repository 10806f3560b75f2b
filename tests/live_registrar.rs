//! The one-shot checks against a real registrar: the project's Twilio-like
//! Kamailio on loopback (tests/registrar/kamailio.cfg), one per test.
mod support;

use regwatch::driver::{options, test_register, CheckOptions, Endpoint, RegisterCheck};
use regwatch::{Cause, ProbeResult, RegState, Transport, TrunkConfig};
use std::time::Duration;
use support::registrar::{self, Registrar, DOMAIN, GENERIC_DOMAIN};

fn trunk(
    domain: &str,
    user: &str,
    auth_user: Option<&str>,
    password: &str,
    expires: u32,
) -> TrunkConfig {
    let mut c = TrunkConfig::new("office");
    c.set("domain", domain).unwrap();
    c.set("username", user).unwrap();
    if let Some(a) = auth_user {
        c.set("auth_username", a).unwrap();
    }
    c.set("password", password).unwrap();
    c.set("expires", &expires.to_string()).unwrap();
    c
}

fn ep(r: &Registrar, transport: Transport) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".to_owned(),
        port: r.port,
        transport,
    }
}

fn opts() -> CheckOptions {
    CheckOptions {
        timeout: Duration::from_secs(3),
        ..CheckOptions::default()
    }
}

fn codes(c: &RegisterCheck) -> Vec<Option<u16>> {
    c.steps.iter().map(|s| s.code).collect()
}

fn no_secret(c: &RegisterCheck, password: &str) {
    let json = serde_json::to_string(c).unwrap();
    assert!(!json.contains(password), "password in the check's JSON");
    assert!(!format!("{c:?}").contains(password), "password in Debug");
}

#[test]
fn success_then_deregistered_over_udp_and_tcp() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    for t in [Transport::Udp, Transport::Tcp] {
        let c = test_register(
            &trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 600),
            &ep(&r, t),
            &opts(),
        );
        // The Expires: 0 reuses the digest session (nc=2): no new challenge.
        assert_eq!(
            codes(&c),
            vec![Some(407), Some(200), Some(200)],
            "{t:?}: {:#?}",
            c.steps
        );
        assert_eq!(
            c.steps[2].request,
            "REGISTER Expires: 0 + Proxy-Authorization"
        );
        assert_eq!(
            (c.state, c.cause),
            (RegState::Registered, Cause::Healthy),
            "{t:?} {:#?}",
            c.steps
        );
        assert_eq!(c.granted_expires, Some(600));
        assert_eq!(c.contact_bound, Some(true));
        assert!(c.deregistered, "{:#?}", c.steps);
        assert!(
            c.steps[0].note.contains("realm \"sip.twilio.com\""),
            "{}",
            c.steps[0].note
        );
        no_secret(&c, "Alice-Passw0rd-1");
    }
}

#[test]
fn wrong_password_unknown_user_and_auth_user_mismatch() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    let e = ep(&r, Transport::Udp);
    let c = test_register(
        &trunk(DOMAIN, "alice", None, "Wrong-Passw0rd-9", 600),
        &e,
        &opts(),
    );
    assert_eq!(codes(&c), vec![Some(407), Some(403)]);
    assert_eq!(
        (c.state, c.cause),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    assert!(!c.deregistered);
    no_secret(&c, "Wrong-Passw0rd-9");

    let c = test_register(
        &trunk(DOMAIN, "carol", None, "Carol-Passw0rd-3", 600),
        &e,
        &opts(),
    );
    assert_eq!(codes(&c), vec![Some(407), Some(403)]);
    assert_eq!(c.cause, Cause::CredentialsRejected);

    let c = test_register(
        &trunk(DOMAIN, "alice", Some("bob"), "Bob-Passw0rd-22", 600),
        &e,
        &opts(),
    );
    assert_eq!(codes(&c), vec![Some(407), Some(403)]);
    assert_eq!(c.cause, Cause::AuthUsernameMismatch, "{:#?}", c.diagnosis);
}

#[test]
fn unknown_domain_is_domain_not_found() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    let c = test_register(
        &trunk(
            "acme-typo.sip.twilio.com",
            "alice",
            None,
            "Alice-Passw0rd-1",
            600,
        ),
        &ep(&r, Transport::Udp),
        &opts(),
    );
    assert_eq!(codes(&c), vec![Some(404)]);
    assert_eq!(
        (c.state, c.cause),
        (RegState::Rejected, Cause::DomainNotFound)
    );
}

#[test]
fn interval_too_brief_is_retried_with_min_expires() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    let c = test_register(
        &trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 60),
        &ep(&r, Transport::Udp),
        &opts(),
    );
    assert_eq!(
        codes(&c)[..3],
        [Some(407), Some(423), Some(200)],
        "{:#?}",
        c.steps
    );
    assert!(
        c.steps[1].note.contains("Min-Expires 600"),
        "{}",
        c.steps[1].note
    );
    assert_eq!(
        c.steps[2].request,
        "REGISTER Expires: 600 + Proxy-Authorization"
    );
    assert_eq!(c.granted_expires, Some(600));
    assert!(c.deregistered);
}

#[test]
fn long_expiry_is_capped_and_drift_reported() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    let c = test_register(
        &trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 7200),
        &ep(&r, Transport::Tcp),
        &opts(),
    );
    assert_eq!(c.granted_expires, Some(3600));
    assert_eq!(
        (c.state, c.cause),
        (RegState::Registered, Cause::ExpiryDrift),
        "{:#?}",
        c.steps
    );
    assert!(
        c.steps[1].note.contains("asked 7200 s, granted 3600 s"),
        "{}",
        c.steps[1].note
    );
    assert!(c
        .diagnosis
        .evidence
        .iter()
        .any(|e| e.contains("Requested expiry 7200 s, granted 3600 s")));
}

#[test]
fn generic_registrar_challenges_with_401_and_its_domain_as_realm() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(true);
    let c = test_register(
        &trunk(GENERIC_DOMAIN, "alice", None, "Alice-Passw0rd-1", 600),
        &ep(&r, Transport::Udp),
        &opts(),
    );
    assert_eq!(codes(&c)[..2], [Some(401), Some(200)], "{:#?}", c.steps);
    assert!(c.steps[0]
        .note
        .contains(&format!("realm \"{GENERIC_DOMAIN}\"")));
    assert_eq!(c.cause, Cause::Healthy);
}

#[test]
fn options_over_udp_and_tcp() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    for t in [Transport::Udp, Transport::Tcp] {
        let o = options(&ep(&r, t), DOMAIN, "alice", &opts());
        assert_eq!(o.result, ProbeResult::Response { code: 200 }, "{o:?}");
        assert_eq!(o.server.as_deref(), Some("Twilio"));
        assert!(o.rtt_ms.is_some_and(|ms| ms < 3000.0));
    }
}

#[test]
fn nothing_listening_is_connection_refused() {
    // No registrar needed: a port nobody listens on.
    let port = registrar::free_port();
    for t in [Transport::Udp, Transport::Tcp] {
        let e = Endpoint {
            host: "127.0.0.1".to_owned(),
            port,
            transport: t,
        };
        let c = test_register(
            &trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 600),
            &e,
            &opts(),
        );
        assert_eq!(codes(&c), vec![None], "{t:?}");
        assert_eq!(
            (c.state, c.cause),
            (RegState::Unreachable, Cause::ConnectionRefused),
            "{t:?}"
        );
        let o = options(&e, DOMAIN, "alice", &opts());
        assert!(
            matches!(o.result, ProbeResult::TransportError { .. }),
            "{o:?}"
        );
    }
}

#[test]
fn tls_with_the_right_and_a_wrong_certificate() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start_tls();
    let tls = |port| Endpoint {
        host: "127.0.0.1".to_owned(),
        port,
        transport: Transport::Tls,
    };
    let with_ca = CheckOptions {
        ca_file: Some(r.ca_file.clone()),
        ..opts()
    };
    // The certificate names the SIP domain and chains to the test CA.
    let good = tls(r.tls_port.unwrap());
    let o = options(&good, DOMAIN, "alice", &with_ca);
    assert_eq!(o.result, ProbeResult::Response { code: 200 }, "{o:?}");
    let c = test_register(
        &trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 600),
        &good,
        &with_ca,
    );
    assert_eq!(
        codes(&c),
        vec![Some(407), Some(200), Some(200)],
        "{:#?}",
        c.steps
    );
    assert_eq!(c.cause, Cause::Healthy);
    // A certificate for another name: tls_failure, with the reason.
    let c = test_register(
        &trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 600),
        &tls(r.wrong_tls_port.unwrap()),
        &with_ca,
    );
    assert_eq!(
        (c.state, c.cause),
        (RegState::Unreachable, Cause::TlsFailure),
        "{:#?}",
        c.steps
    );
    assert!(
        c.steps[0].reason.contains("not valid for name"),
        "{}",
        c.steps[0].reason
    );
    // The right certificate, but a CA nobody trusts (the system store).
    let o = options(&good, DOMAIN, "alice", &opts());
    assert!(
        matches!(
            o.result,
            ProbeResult::TransportError {
                kind: regwatch::TransportErrorKind::Tls
            }
        ),
        "{o:?}"
    );
    assert!(
        o.error
            .as_deref()
            .is_some_and(|e| e.contains("UnknownIssuer")),
        "{o:?}"
    );
}

/// A host that carries the engine's keep-alives itself (a PBX module
/// sending through its own SIP stack): it sends `Probe::request`, hands
/// the raw answer to `observe_sip`, and the engine records the probe.
#[test]
fn a_host_sending_probes_itself_feeds_answers_through_observe_sip() {
    if !registrar::available() {
        return;
    }
    let r = Registrar::start(false);
    let mut ec = regwatch::EngineConfig::default();
    ec.set("keepalive", "on").unwrap();
    let mut engine = regwatch::Engine::new(ec, 0, 3);
    let mut c = trunk(DOMAIN, "alice", None, "Alice-Passw0rd-1", 600);
    c.set("proxy", &format!("127.0.0.1:{}", r.port)).unwrap();
    let id = engine.add_trunk(0, c).unwrap();
    let due = engine.poll_timeout().unwrap();
    engine.handle_timeout(due);
    let probe = std::iter::from_fn(|| engine.poll_output())
        .find_map(|o| match o {
            regwatch::Output::Transmit(p) => Some(p),
            _ => None,
        })
        .expect("a probe");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", probe.port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let local = sock.local_addr().unwrap().to_string();
    sock.send(probe.request(&local, "test-host").as_bytes())
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    let seen = engine
        .observe_sip(
            due + 3,
            regwatch::Direction::Received,
            Some(Transport::Udp),
            &buf[..n],
        )
        .unwrap();
    assert_eq!(seen, regwatch::SipObserved::KeepAlive(id));
    // The same answer again changes nothing.
    let again = engine
        .observe_sip(
            due + 4,
            regwatch::Direction::Received,
            Some(Transport::Udp),
            &buf[..n],
        )
        .unwrap();
    assert_eq!(again, regwatch::SipObserved::NotRegistration);
    let k = engine.snapshot(id).unwrap().keepalive;
    assert_eq!(
        (k.last_code, k.failures_in_row, k.rtt.count),
        (Some(200), 0, 1)
    );
}
