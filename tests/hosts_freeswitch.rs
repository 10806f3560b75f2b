//! The FreeSWITCH adapters against the captured FreeSWITCH 1.11 runs
//! (tests/fixtures/freeswitch): every event goes through the adapters and,
//! fed to an engine with the seven gateways configured, gives each trunk
//! its final state and cause.
use regwatch::hosts::freeswitch::{
    parse_compact, parse_gateways, parse_raw_events, GatewayChange, GatewayEvent, GatewayInfo,
    GatewayState, GatewayTracker, RawEvent, SofiaGateway,
};
use regwatch::hosts::{self, Fact, FactKind, HostError};
use regwatch::{Cause, Engine, EngineConfig, RegState, TransportErrorKind};
use std::collections::{BTreeMap, HashMap};

fn fixture(name: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/freeswitch/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

const GATEWAYS: [&str; 7] = [
    "gw_ok",
    "gw_badpass",
    "gw_404",
    "gw_timeout",
    "gw_401loop",
    "gw_refused",
    "gw_ping",
];

fn gateways() -> HashMap<String, SofiaGateway> {
    parse_gateways(&fixture("external.xml"))
        .into_iter()
        .map(|g| (g.name.clone(), g))
        .collect()
}

/// Milliseconds since midnight: `Event-Date-Timestamp` (µs since the
/// epoch) for the raw form, the `HH:MM:SS` prefix for the compact form.
fn at_ms(ev: &RawEvent) -> u64 {
    if let Some(us) = ev
        .get("Event-Date-Timestamp")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return (us / 1000) % 86_400_000;
    }
    let t = ev.time.as_deref().expect("a time");
    let n = |r: std::ops::Range<usize>| t[r].parse::<u64>().unwrap();
    (n(0..2) * 3600 + n(3..5) * 60 + n(6..8)) * 1000
}

struct Bed {
    engine: Engine,
    tracker: GatewayTracker,
    gateways: HashMap<String, SofiaGateway>,
    base_ms: Option<u64>,
    facts: Vec<Fact>,
    changes: Vec<GatewayChange>,
    ignored: Vec<String>,
    events: usize,
}

impl Bed {
    fn new() -> Bed {
        let gateways = gateways();
        let mut engine = Engine::new(EngineConfig::default(), 0, 1);
        let mut tracker = GatewayTracker::new();
        for name in GATEWAYS {
            let g = &gateways[name];
            engine.add_trunk(0, g.trunk().config).unwrap();
            tracker.set_info(name, g.info());
        }
        while engine.poll_output().is_some() {}
        Bed {
            engine,
            tracker,
            gateways,
            base_ms: None,
            facts: Vec::new(),
            changes: Vec::new(),
            ignored: Vec::new(),
            events: 0,
        }
    }

    fn feed(&mut self, events: &[RawEvent]) {
        for raw in events {
            self.events += 1;
            let at = at_ms(raw);
            let base = *self.base_ms.get_or_insert(at);
            let now = at.saturating_sub(base) + 1;
            self.engine.handle_timeout(now);
            let ev = match GatewayEvent::from_raw(raw) {
                Ok(ev) => ev,
                Err(HostError::Ignored(why)) => {
                    self.ignored.push(why);
                    continue;
                }
                Err(e) => panic!("{e}: {raw:?}"),
            };
            let m = self.tracker.handle(&ev);
            for (trunk, r) in hosts::apply(&mut self.engine, now, &m.facts) {
                r.unwrap_or_else(|e| panic!("{trunk}: {e} ({ev:?})"));
            }
            match &m.change {
                Some(GatewayChange::Removed { gateway, .. }) => {
                    let id = self.engine.find_trunk(gateway).unwrap();
                    self.engine.remove_trunk(now, id).unwrap();
                }
                Some(GatewayChange::Added { gateway, .. })
                    if self.engine.find_trunk(gateway).is_none() =>
                {
                    let g = &self.gateways[gateway.as_str()];
                    self.engine.add_trunk(now, g.trunk().config).unwrap();
                }
                _ => {}
            }
            while self.engine.poll_output().is_some() {}
            self.facts.extend(m.facts);
            self.changes.extend(m.change);
        }
    }

    fn state(&self, name: &str) -> (RegState, Cause) {
        let id = self.engine.find_trunk(name).unwrap();
        self.engine.trunk_state(id).unwrap()
    }

    fn states(&self) -> BTreeMap<&'static str, (RegState, Cause)> {
        GATEWAYS.iter().map(|g| (*g, self.state(g))).collect()
    }

    fn facts_for(&self, gw: &str) -> Vec<&FactKind> {
        self.facts
            .iter()
            .filter(|f| f.trunk == gw)
            .map(|f| &f.kind)
            .collect()
    }
}

fn assert_run2(bed: &Bed) {
    let s = bed.states();
    assert_eq!(s["gw_ok"], (RegState::Registered, Cause::Healthy));
    // The capture's registrar challenged, then answered the wrong
    // password with 403; the FAILED 403 event alone does not show the
    // challenge, so the cause stays open (account_forbidden, naming both
    // candidates) until the account query settles it.
    assert_eq!(
        s["gw_badpass"],
        (RegState::Rejected, Cause::AccountForbidden)
    );
    assert_eq!(s["gw_404"], (RegState::Rejected, Cause::DomainNotFound));
    assert_eq!(
        s["gw_401loop"],
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    assert_eq!(
        s["gw_refused"],
        (RegState::Unreachable, Cause::ConnectionRefused)
    );
    // The capture ends right after gw_timeout's next TRYING: a REGISTER is
    // out again; a retry changes neither the state nor the cause of the
    // last failure (one event per change, not two per retry).
    assert_eq!(
        s["gw_timeout"],
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
    // register=false: an OPTIONS-only gateway gives no registration facts.
    assert!(bed.facts_for("gw_ping").is_empty());
    assert_eq!(s["gw_ping"].0, RegState::Unknown);
}

#[test]
fn gateway_xml_gives_the_trunks() {
    let gws = gateways();
    assert_eq!(gws.len(), 7);
    for name in GATEWAYS {
        let g = &gws[name];
        assert_eq!(g.profile.as_deref(), Some("external"));
        let t = g.trunk();
        assert_eq!(&*t.config.name, name);
        assert!(!format!("{:?}", t.config).contains("s3cret"));
    }
    let ok = gws["gw_ok"].trunk();
    assert_eq!(ok.config.domain, "acme.sip.twilio.com");
    assert_eq!(ok.config.username, "acme");
    assert_eq!(ok.config.proxy.as_deref(), Some("127.0.0.1:5091"));
    assert_eq!(ok.config.expires, Some(120));
    assert_eq!(ok.config.transport, Some(regwatch::Transport::Udp));
    assert_eq!(ok.config.realm, None);
    assert!(ok.registers);
    assert_eq!(
        gws["gw_ok"].info(),
        GatewayInfo {
            has_credentials: true,
            expires: Some(120),
            transport: Some(regwatch::Transport::Udp),
            registers: true
        }
    );
    let bad = gws["gw_badpass"].trunk();
    assert_eq!(
        bad.config.password.as_ref().map(|p| p.expose()),
        Some("wrong & bad")
    );
    assert_eq!(bad.config.expires, Some(3600), "mod_sofia's default");
    let ping = gws["gw_ping"].trunk();
    assert!(!ping.registers);
    assert!(ping
        .notes
        .iter()
        .any(|n| n.code == "freeswitch.no_register"));
    assert!(gws["gw_timeout"]
        .trunk()
        .notes
        .iter()
        .all(|n| n.code != "freeswitch.timeout_seconds_reset"));
}

#[test]
fn run2_raw_and_compact_give_the_same_facts() {
    let raw = parse_raw_events(&fixture("events_run2_raw.txt"));
    let compact = parse_compact(&fixture("events_run2_compact.txt"));
    assert_eq!(raw.len(), 84);
    assert_eq!(compact.len(), 84);
    let map = |evs: &[RawEvent]| {
        let mut tr = GatewayTracker::new();
        for (n, g) in gateways() {
            tr.set_info(&n, g.info());
        }
        evs.iter()
            .map(|e| tr.handle(&GatewayEvent::from_raw(e).unwrap()))
            .collect::<Vec<_>>()
    };
    let (a, b) = (map(&raw), map(&compact));
    assert_eq!(a, b);
    // Same events too, header by header (the compact form drops the core headers).
    for (r, c) in raw.iter().zip(&compact) {
        assert_eq!(
            GatewayEvent::from_raw(r).unwrap(),
            GatewayEvent::from_raw(c).unwrap()
        );
    }
}

#[test]
fn run2_final_states() {
    let mut bed = Bed::new();
    bed.feed(&parse_raw_events(&fixture("events_run2_raw.txt")));
    assert_eq!(bed.events, 84);
    assert!(bed.ignored.is_empty());
    // Profile restart: every gateway deleted and added again.
    let removed = bed
        .changes
        .iter()
        .filter(|c| matches!(c, GatewayChange::Removed { .. }))
        .count();
    let added = bed
        .changes
        .iter()
        .filter(|c| matches!(c, GatewayChange::Added { .. }))
        .count();
    assert_eq!((removed, added), (7, 7));
    assert_run2(&bed);

    // What the mapping said on the way.
    let bp = bed.facts_for("gw_badpass");
    assert!(bp.windows(2).any(|w| matches!(
        (w[0], w[1]),
        (FactKind::RegisterSent(s), FactKind::RegisterResponse(r)) if s.credentials_unknown && r.code == 403
    )));
    let loop401 = bed.facts_for("gw_401loop");
    assert!(loop401.windows(2).any(|w| matches!(
        (w[0], w[1]),
        (FactKind::RegisterSent(s), FactKind::RegisterResponse(r))
            if s.with_credentials && r.code == 401 && r.reason == "Operation has no matching challenge"
    )));
    assert!(bed.facts_for("gw_refused").iter().any(|k| matches!(
        k,
        FactKind::TransportError {
            kind: TransportErrorKind::Refused,
            ..
        }
    )));
    assert!(bed
        .facts_for("gw_timeout")
        .iter()
        .any(|k| matches!(k, FactKind::RegisterTimeout { .. })));
    // The 100 "Request Authorized by Cache" produced nothing.
    assert!(bed
        .facts_for("gw_401loop")
        .iter()
        .all(|k| !matches!(k, FactKind::RegisterResponse(r) if r.code < 200)));
}

#[test]
fn run2_compact_final_states() {
    let mut bed = Bed::new();
    bed.feed(&parse_compact(&fixture("events_run2_compact.txt")));
    assert_run2(&bed);
}

#[test]
fn run1_final_states() {
    let mut bed = Bed::new();
    bed.feed(&parse_raw_events(&fixture("events_run1_raw.txt")));
    assert_eq!(bed.events, 44);
    // The proof module's own `regprobe::diagnosis` event.
    assert_eq!(bed.ignored.len(), 1);
    let s = bed.states();
    assert_eq!(s["gw_ok"], (RegState::Registered, Cause::Healthy));
    assert_eq!(
        s["gw_refused"],
        (RegState::Unreachable, Cause::ConnectionRefused)
    );
    // killgw + rescan, then 404, then the next TRYING: the retry keeps
    // the rejection.
    assert_eq!(s["gw_404"], (RegState::Rejected, Cause::DomainNotFound));
    // A sofia-generated 408 (Register-Network-Port: 0) is a timeout, not a
    // registrar answer.
    assert_eq!(
        s["gw_badpass"],
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
    assert_eq!(
        s["gw_401loop"],
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
    assert_eq!(
        s["gw_timeout"],
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
    // NOREG with OPTIONS results, UP then DOWN: no registration facts.
    assert!(bed.facts_for("gw_ping").is_empty());
    // gw_ok's first event is REGISTER 200 with no TRYING before it.
    assert!(matches!(
        bed.facts_for("gw_ok")[..],
        [FactKind::RegisterSent(_), FactKind::RegisterResponse(_)]
    ));
}

#[test]
fn run1_then_run2() {
    let mut bed = Bed::new();
    bed.feed(&parse_raw_events(&fixture("events_run1_raw.txt")));
    let before = bed.facts.len();
    bed.feed(&parse_raw_events(&fixture("events_run2_raw.txt")));
    // The restart: gw_ok was registered, so its DOWN is a deregistration;
    // the failing gateways' DOWN means FreeSWITCH stopped trying.
    let restart = &bed.facts[before..];
    assert!(restart
        .iter()
        .any(|f| f.trunk == "gw_ok" && f.kind == FactKind::Deregistered));
    assert!(restart.iter().any(|f| f.trunk == "gw_refused"
        && matches!(
            f.kind,
            FactKind::HostState {
                state: regwatch::HostState::GaveUp,
                ..
            }
        )));
    assert_run2(&bed);
}

#[test]
fn other_states() {
    let mut tr = GatewayTracker::new();
    let ev = |state: &str, extra: &[(&str, &str)]| {
        let mut h = vec![
            ("Event-Subclass", "sofia::gateway_state"),
            ("Gateway", "gw"),
            ("State", state),
            ("Ping-Status", "DOWN"),
        ];
        h.extend_from_slice(extra);
        GatewayEvent::from_headers(&h).unwrap()
    };
    // UNREGED after UNREGISTER: deregistered.
    tr.handle(&ev("UNREGISTER", &[]));
    assert_eq!(
        tr.handle(&ev("UNREGED", &[])).facts[0].kind,
        FactKind::Deregistered
    );
    assert_eq!(tr.last_state("gw"), Some(GatewayState::Unreged));
    // A 503 received from the registrar (it has an address) is a server error.
    let m = tr.handle(&ev(
        "FAILED",
        &[
            ("Register-Network-IP", "192.0.2.7"),
            ("Register-Network-Port", "5060"),
            ("Status", "503"),
            ("Phrase", "Service Unavailable"),
        ],
    ));
    assert!(matches!(&m.facts[0].kind, FactKind::RegisterResponse(r) if r.code == 503));
    // NOREG after failures: FreeSWITCH no longer registers it.
    let m = tr.handle(&ev("NOREG", &[]));
    assert!(matches!(
        m.facts[0].kind,
        FactKind::HostState {
            state: regwatch::HostState::GaveUp,
            ..
        }
    ));
    // A challenge from an unexpected host: an unanswered 401 with its realm.
    let m = tr.handle(
        &GatewayEvent::from_headers(&[
            ("Event-Subclass", "sofia::gateway_invalid_digest_req"),
            ("Gateway", "gw"),
            ("profile-name", "external"),
            ("realm", "sip.twilio.com"),
        ])
        .unwrap(),
    );
    assert!(matches!(&m.facts[0].kind,
        FactKind::RegisterResponse(r) if r.code == 401 && r.challenge.as_ref().unwrap().realm == "sip.twilio.com"));
    // Unknown states and subclasses.
    assert!(matches!(
        GatewayEvent::from_headers(&[
            ("Event-Subclass", "sofia::gateway_state"),
            ("Gateway", "gw"),
            ("State", "BOGUS")
        ]),
        Err(HostError::Malformed(_))
    ));
    assert!(matches!(
        GatewayEvent::from_headers(&[("Event-Subclass", "sofia::register"), ("Gateway", "gw")]),
        Err(HostError::Ignored(_))
    ));
}

#[test]
fn debug_output_never_shows_a_password() {
    let gws = parse_gateways(&fixture("external.xml"));
    let trunks: Vec<_> = gws.iter().map(SofiaGateway::trunk).collect();
    for d in [format!("{gws:?}"), format!("{trunks:?}")] {
        assert!(!d.contains("s3cret") && !d.contains("wrong &"), "{d}");
    }
}

/// A retry-seconds as large as a u32 holds is read, and its note says the
/// back-off without an overflow (found by the sofia_xml fuzz target: a
/// debug build panicked multiplying it).
#[test]
fn the_largest_retry_seconds_is_described_without_overflow() {
    let xml = r#"<gateway name="gw">
      <param name="username" value="alice"/>
      <param name="password" value="secret"/>
      <param name="proxy" value="acme.sip.twilio.com"/>
      <param name="retry-seconds" value="4294967295"/>
    </gateway>"#;
    let gws = parse_gateways(xml);
    assert_eq!(gws.len(), 1);
    let t = gws[0].trunk();
    let note = t
        .notes
        .iter()
        .find(|n| n.code == "freeswitch.retry_backoff")
        .expect("the retry back-off note");
    assert!(
        note.message
            .contains("4294967295 s, 8589934590 s, 12884901885 s"),
        "{}",
        note.message
    );
}
