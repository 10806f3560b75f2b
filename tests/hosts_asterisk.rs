//! The Asterisk adapters against the captured Asterisk 22 run
//! (tests/fixtures/asterisk): every AMI event and every console line goes
//! through the adapters and, fed to an engine with the five registrations
//! configured, gives each trunk its final state and cause.
use regwatch::hosts::asterisk::{
    parse_log_line, AmiMessage, AsteriskConfig, ContactState, ContactStatusEvent, ObjectSet,
    RegistrationIndex, RegistryEvent, RegistryStatus,
};
use regwatch::hosts::{self, Fact, FactKind, HostError};
use regwatch::{Cause, Engine, EngineConfig, HostState, Output, RegState, Transport};
use std::collections::BTreeMap;

fn fixture(name: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/asterisk/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn config() -> AsteriskConfig {
    AsteriskConfig::from_pjsip_conf(&fixture("pjsip.conf"))
}

const TRUNKS: [&str; 5] = ["reg-ok", "reg-403", "reg-404", "reg-401", "reg-timeout"];

/// `HH:MM:SS` → seconds.
fn hms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    Some(n(0..2)? * 3600 + n(3..5)? * 60 + n(6..8)?)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// Console lines sort first within a second: Asterisk logs the WARNING
    /// (`:1585`) before it publishes the Registry message (`:1593`).
    Console,
    Ami,
}

#[derive(Clone, Debug)]
struct Item {
    at_s: u64,
    source: Source,
    seq: usize,
    line: String,
}

fn ami_items() -> Vec<Item> {
    fixture("ami-events.log")
        .lines()
        .enumerate()
        .map(|(seq, l)| Item {
            at_s: hms(l).expect("every AMI line starts with HH:MM:SS"),
            source: Source::Ami,
            seq,
            line: l.to_owned(),
        })
        .collect()
}

/// Console lines; lines without a `[Mon DD HH:MM:SS]` prefix inherit the
/// last time seen.
fn console_items() -> Vec<Item> {
    let mut last = 0;
    fixture("console-run.log")
        .lines()
        .enumerate()
        .map(|(seq, l)| {
            let clean = hosts::strip_ansi(l);
            if let Some(rest) = clean.trim().strip_prefix('[') {
                if let Some(t) = rest.get(7..15).and_then(hms) {
                    last = t;
                }
            }
            Item {
                at_s: last,
                source: Source::Console,
                seq,
                line: l.to_owned(),
            }
        })
        .collect()
}

struct Bed {
    engine: Engine,
    index: RegistrationIndex,
    registry_events: usize,
    contact_events: Vec<ContactStatusEvent>,
    ignored_ami: usize,
    log_lines: usize,
    facts: Vec<Fact>,
}

impl Bed {
    fn new() -> Bed {
        let conf = config();
        let mut engine = Engine::new(EngineConfig::default(), 0, 1);
        for t in conf.trunks() {
            engine.add_trunk(0, t.config).unwrap();
        }
        while engine.poll_output().is_some() {}
        Bed {
            engine,
            index: conf.index(),
            registry_events: 0,
            contact_events: Vec::new(),
            ignored_ami: 0,
            log_lines: 0,
            facts: Vec::new(),
        }
    }

    fn feed(&mut self, mut items: Vec<Item>) {
        items.sort_by_key(|i| (i.at_s, i.source, i.seq));
        let base = items.first().map_or(0, |i| i.at_s);
        for item in items {
            let now = (item.at_s - base) * 1000 + 1;
            let facts = match item.source {
                Source::Ami => self.ami(&item.line),
                Source::Console => self.console(&item.line),
            };
            self.engine.handle_timeout(now);
            for (trunk, r) in hosts::apply(&mut self.engine, now, &facts) {
                r.unwrap_or_else(|e| panic!("{trunk}: {e} ({})", item.line));
            }
            while self.engine.poll_output().is_some() {}
            self.facts.extend(facts);
        }
    }

    fn ami(&mut self, line: &str) -> Vec<Fact> {
        let msg = AmiMessage::parse(line);
        match msg.event() {
            Some("Registry") => {
                self.registry_events += 1;
                let ev = RegistryEvent::from_ami(&msg).unwrap();
                assert!(ev.cause.is_empty(), "PJSIP Registry Cause is always empty");
                ev.facts(&self.index).unwrap()
            }
            Some("ContactStatus") => {
                self.contact_events
                    .push(ContactStatusEvent::from_ami(&msg).unwrap());
                Vec::new()
            }
            _ => {
                // The proof module's RegProbe events and the login banner.
                assert!(matches!(
                    RegistryEvent::from_ami(&msg),
                    Err(HostError::Ignored(_))
                ));
                self.ignored_ami += 1;
                Vec::new()
            }
        }
    }

    fn console(&mut self, line: &str) -> Vec<Fact> {
        match parse_log_line(line) {
            Some(l) => {
                self.log_lines += 1;
                assert_eq!(l.level.as_deref(), Some("WARNING"));
                l.event.facts(&self.index).unwrap()
            }
            None => {
                assert!(
                    !line.contains("res_pjsip_outbound_registration.c"),
                    "unrecognised registration line: {line}"
                );
                Vec::new()
            }
        }
    }

    fn state(&self, name: &str) -> (RegState, Cause) {
        let id = self.engine.find_trunk(name).unwrap();
        self.engine.trunk_state(id).unwrap()
    }

    fn states(&self) -> BTreeMap<&'static str, (RegState, Cause)> {
        TRUNKS.iter().map(|t| (*t, self.state(t))).collect()
    }
}

#[test]
fn configuration_matches_the_capture() {
    let conf = config();
    let names: Vec<&str> = conf.registrations.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, TRUNKS);
    // `pjsip show registrations` at the end of the run names the same
    // registrations, server URIs and auth sections.
    let cli = fixture("final-cli.txt");
    for r in &conf.registrations {
        let row = cli
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{}/", r.name)))
            .unwrap_or_else(|| panic!("{} not in final-cli.txt", r.name));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[0], format!("{}/{}", r.name, r.server_uri));
        assert_eq!(cols[1], r.outbound_auth[0]);
    }
    for (i, t) in conf.trunks().iter().enumerate() {
        let c = &t.config;
        assert_eq!(&*c.name, TRUNKS[i]);
        assert_eq!(c.domain, "127.0.0.1");
        assert_eq!(c.port, Some(15060 + i as u16));
        assert_eq!(c.username, "acme");
        assert_eq!(c.auth_username, None);
        assert_eq!(c.transport, Some(Transport::Udp));
        assert_eq!(c.expires, Some(60));
        assert!(c.password.is_some());
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "Debug shows no secret"
        );
        let codes: Vec<&str> = t.notes.iter().map(|n| n.code).collect();
        for expected in [
            "asterisk.stops_on_auth_rejection",
            "asterisk.stops_on_forbidden",
            "asterisk.stops_on_fatal",
            "asterisk.max_retries",
        ] {
            assert!(codes.contains(&expected), "{}: {codes:?}", c.name);
        }
        assert!(t
            .notes
            .iter()
            .all(|n| n.severity != regwatch::Severity::Error));
    }
    let pw = |n: usize| conf.trunks()[n].config.password.clone().unwrap();
    assert_ne!(pw(3).expose(), pw(0).expose(), "reg-401 uses bad-auth");
    let idx = conf.index();
    assert_eq!(idx.len(), 5);
    assert!(idx.entries().all(|e| e.has_credentials));
}

#[test]
fn registry_events_alone_say_rejected_cause_unknown() {
    let mut bed = Bed::new();
    bed.feed(ami_items());
    assert_eq!(bed.registry_events, 15);
    assert_eq!(bed.ignored_ami, 16);
    assert_eq!(bed.contact_events.len(), 1);
    let c = &bed.contact_events[0];
    assert_eq!(
        (c.aor.as_str(), c.uri.as_str(), &c.status, c.roundtrip_usec),
        (
            "trunk",
            "sip:127.0.0.1:15065",
            &ContactState::Unreachable,
            Some(0)
        )
    );
    assert!(bed
        .facts
        .iter()
        .all(|f| matches!(f.kind, FactKind::HostState { .. })));
    let s = bed.states();
    assert_eq!(s["reg-ok"], (RegState::Registered, Cause::Healthy));
    for t in ["reg-403", "reg-404", "reg-401", "reg-timeout"] {
        assert_eq!(s[t], (RegState::Rejected, Cause::Unknown), "{t}");
    }
}

#[test]
fn registry_events_plus_console_lines_name_the_cause() {
    let mut bed = Bed::new();
    let mut items = ami_items();
    items.extend(console_items());
    bed.feed(items);
    assert_eq!(bed.registry_events, 15);
    // 12 Fatal-response lines (403 ×6, 404 ×4, 401 ×2) and 5 No-response lines.
    assert_eq!(bed.log_lines, 17);
    let s = bed.states();
    assert_eq!(s["reg-ok"], (RegState::Registered, Cause::Healthy));
    // The console goes on after the AMI capture ends: its last word on the
    // permanent failures is "stopping outbound registration".
    assert_eq!(s["reg-403"], (RegState::Stopped, Cause::AccountForbidden));
    assert_eq!(s["reg-404"], (RegState::Stopped, Cause::DomainNotFound));
    assert_eq!(
        s["reg-401"],
        (RegState::Stopped, Cause::CredentialsRejected)
    );
    assert_eq!(
        s["reg-timeout"],
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
}

#[test]
fn within_the_ami_capture_the_causes_show_at_once() {
    // Only the part of the console the AMI capture covers: a Registry
    // "Rejected" follows each WARNING line, and the cause survives it.
    let ami = ami_items();
    let end = ami.last().unwrap().at_s;
    let mut items = ami;
    items.extend(console_items().into_iter().filter(|i| i.at_s <= end));
    let mut bed = Bed::new();
    bed.feed(items);
    let s = bed.states();
    assert_eq!(s["reg-ok"], (RegState::Registered, Cause::Healthy));
    assert_eq!(s["reg-403"], (RegState::Rejected, Cause::AccountForbidden));
    assert_eq!(s["reg-404"], (RegState::Rejected, Cause::DomainNotFound));
    assert_eq!(
        s["reg-401"],
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    assert_eq!(
        s["reg-timeout"],
        (RegState::Rejected, Cause::RegistrarUnreachable)
    );
}

#[test]
fn console_lines_alone() {
    let mut bed = Bed::new();
    bed.feed(console_items());
    let s = bed.states();
    // The console says nothing about reg-ok (success is not logged). Its
    // cause is whatever validation says about the configuration.
    assert_eq!(s["reg-ok"].0, RegState::Unknown);
    assert_eq!(s["reg-403"], (RegState::Stopped, Cause::AccountForbidden));
    assert_eq!(s["reg-404"], (RegState::Stopped, Cause::DomainNotFound));
    assert_eq!(
        s["reg-401"],
        (RegState::Stopped, Cause::CredentialsRejected)
    );
    assert_eq!(
        s["reg-timeout"],
        (RegState::Unreachable, Cause::RegistrarUnreachable)
    );
    // A fatal 403 line: REGISTER, 403, gave up. reg-403 has an
    // outbound_auth, but a 403 may answer the first, unauthenticated
    // REGISTER (the captured registrar did exactly that), so only a Twilio
    // registrar (which always challenges first) proves credentials were sent.
    let f: Vec<&Fact> = bed.facts.iter().filter(|f| f.trunk == "reg-403").collect();
    assert!(
        matches!(&f[0].kind, FactKind::RegisterSent(s) if !s.with_credentials && s.expires == Some(60) && s.transport == Some(Transport::Udp))
    );
    assert!(
        matches!(&f[1].kind, FactKind::RegisterResponse(r) if r.code == 403 && r.reason == "Forbidden")
    );
    assert!(matches!(
        &f[2].kind,
        FactKind::HostState {
            state: HostState::GaveUp,
            ..
        }
    ));
}

#[test]
fn stasis_json_and_ami_give_the_same_facts() {
    let idx = config().index();
    for item in ami_items() {
        let msg = AmiMessage::parse(&item.line);
        if msg.event() != Some("Registry") {
            continue;
        }
        // What the stasis subscriber of a module receives for the same message.
        let json = serde_json::json!({
            "type": "registry",
            "channeltype": msg.get("ChannelType").unwrap(),
            "username": msg.get("Username").unwrap(),
            "domain": msg.get("Domain").unwrap(),
            "status": msg.get("Status").unwrap(),
            "cause": "",
        })
        .to_string();
        let a = RegistryEvent::from_ami(&msg).unwrap();
        let j = RegistryEvent::from_json(&json).unwrap();
        assert_eq!(a, j);
        assert_eq!(a.facts(&idx).unwrap(), j.facts(&idx).unwrap());
    }
    // Real AMI framing (Key: Value lines).
    let m = AmiMessage::parse(
        "Event: Registry\r\nPrivilege: system,all\r\nChannelType: PJSIP\r\n\
         Username: sip:acme@127.0.0.1:15062\r\nDomain: sip:127.0.0.1:15062\r\nStatus: Rejected\r\n\r\n",
    );
    let ev = RegistryEvent::from_ami(&m).unwrap();
    assert_eq!(ev.status, RegistryStatus::Rejected);
    assert_eq!(ev.facts(&idx).unwrap()[0].trunk, "reg-404");
}

#[test]
fn sorcery_object_sets_give_the_same_trunks_as_pjsip_conf() {
    // What a module reads with ast_sorcery_objectset_create(): every field,
    // defaults included, outbound_auth once per auth; the id separately.
    let mut sets = Vec::new();
    for (i, name) in TRUNKS.iter().enumerate() {
        let port = 15060 + i;
        let auth = if *name == "reg-401" {
            "bad-auth"
        } else {
            "trunk-auth"
        };
        let server = format!("sip:127.0.0.1:{port}");
        let client = format!("sip:acme@127.0.0.1:{port}");
        let fields: Vec<(&str, &str)> = vec![
            ("server_uri", &server),
            ("client_uri", &client),
            ("contact_user", ""),
            ("transport", "transport-udp"),
            ("outbound_proxy", ""),
            ("expiration", "60"),
            ("max_random_initial_delay", "10"),
            ("retry_interval", "20"),
            ("forbidden_retry_interval", "0"),
            ("fatal_retry_interval", "0"),
            ("max_retries", "10"),
            ("auth_rejection_permanent", "yes"),
            ("outbound_auth", auth),
            ("support_path", "no"),
            ("line", "no"),
            ("endpoint", ""),
        ];
        sets.push(ObjectSet::new(name, "registration", fields));
    }
    for (name, pw) in [("trunk-auth", "s3cret"), ("bad-auth", "not-the-s3cret")] {
        sets.push(ObjectSet::new(
            name,
            "auth",
            [
                ("auth_type", "userpass"),
                ("username", "acme"),
                ("password", pw),
                ("realm", ""),
            ],
        ));
    }
    sets.push(ObjectSet::new(
        "transport-udp",
        "transport",
        [("protocol", "udp")],
    ));
    let from_sets = AsteriskConfig::from_objectsets(&sets);
    let from_conf = config();
    assert_eq!(from_sets.trunks(), from_conf.trunks());
    assert_eq!(from_sets.index(), from_conf.index());
}

#[test]
fn unknown_registrations_and_other_channel_types() {
    let idx = config().index();
    let ev = RegistryEvent::from_json(
        r#"{"type":"registry","channeltype":"PJSIP","username":"sip:bob@10.0.0.1","domain":"sip:10.0.0.1","status":"Registered","cause":""}"#,
    )
    .unwrap();
    assert!(matches!(
        ev.facts(&idx),
        Err(HostError::UnknownRegistration { .. })
    ));
    let iax = RegistryEvent::from_json(
        r#"{"type":"registry","channeltype":"IAX2","username":"bob","domain":"10.0.0.1","status":"Registered","cause":""}"#,
    )
    .unwrap();
    assert!(matches!(iax.facts(&idx), Err(HostError::Ignored(_))));
    assert!(matches!(
        RegistryEvent::from_json(
            r#"{"channeltype":"PJSIP","username":"a","domain":"b","status":"Bogus"}"#
        ),
        Err(HostError::Malformed(_))
    ));
    // A fact about a trunk the engine does not have is reported, not fed.
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    let out = hosts::apply(&mut engine, 0, &[Fact::new("nope", FactKind::Deregistered)]);
    assert_eq!(
        out,
        vec![("nope".to_owned(), Err(regwatch::Error::UnknownTrunk))]
    );
}

#[test]
fn a_403_without_credentials_is_account_forbidden() {
    // Same registrar, no outbound_auth: the 403 did not answer credentials.
    let conf = AsteriskConfig::from_pjsip_conf(
        "[acl]\ntype=registration\nserver_uri=sip:127.0.0.1:15061\nclient_uri=sip:acme@127.0.0.1:15061\n",
    );
    let t = &conf.trunks()[0];
    assert!(t
        .notes
        .iter()
        .any(|n| n.code == "asterisk.no_outbound_auth"));
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    engine.add_trunk(0, t.config.clone()).unwrap();
    let line = parse_log_line("Fatal response '403' received from 'sip:127.0.0.1:15061' on registration attempt to 'sip:acme@127.0.0.1:15061', stopping outbound registration").unwrap();
    let facts = line.event.facts(&conf.index()).unwrap();
    assert!(hosts::apply(&mut engine, 1000, &facts)
        .iter()
        .all(|(_, r)| r.is_ok()));
    let id = engine.find_trunk("acl").unwrap();
    assert_eq!(
        engine.trunk_state(id).unwrap(),
        (RegState::Stopped, Cause::AccountForbidden)
    );
    let events: Vec<Output> = std::iter::from_fn(|| engine.poll_output()).collect();
    assert!(!events.is_empty());
}

#[test]
fn retry_lines_do_not_stop_the_registration() {
    let conf = config();
    let idx = conf.index();
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    for t in conf.trunks() {
        engine.add_trunk(0, t.config).unwrap();
    }
    let lines = [
        "[Nov 24 07:00:00] WARNING[1]: res_pjsip_outbound_registration.c:1 x: 403 Forbidden fatal response received from 'sip:127.0.0.1:15061' on registration attempt to 'sip:acme@127.0.0.1:15061', retrying in '30' seconds",
        "[Nov 24 07:00:00] WARNING[1]: res_pjsip_outbound_registration.c:1 x: '404' fatal response received from 'sip:127.0.0.1:15062' on registration attempt to 'sip:acme@127.0.0.1:15062', retrying in '30' seconds",
        "[Nov 24 07:00:00] WARNING[1]: res_pjsip_outbound_registration.c:1 x: Temporal response '503' received from 'sip:127.0.0.1:15064' on registration attempt to 'sip:acme@127.0.0.1:15064', retrying in '60'",
        "[Nov 24 07:00:00] WARNING[1]: res_pjsip_outbound_registration.c:1 x: Temporal response '401' received from 'sip:127.0.0.1:15063' on registration attempt to 'sip:acme@127.0.0.1:15063', retrying in '60'",
    ];
    for l in lines {
        let facts = parse_log_line(l).unwrap().event.facts(&idx).unwrap();
        assert!(hosts::apply(&mut engine, 1000, &facts)
            .iter()
            .all(|(_, r)| r.is_ok()));
    }
    let st = |e: &Engine, n: &str| e.trunk_state(e.find_trunk(n).unwrap()).unwrap();
    assert_eq!(
        st(&engine, "reg-403"),
        (RegState::Rejected, Cause::AccountForbidden)
    );
    assert_eq!(
        st(&engine, "reg-404"),
        (RegState::Rejected, Cause::DomainNotFound)
    );
    assert_eq!(
        st(&engine, "reg-timeout"),
        (RegState::Rejected, Cause::ServerError)
    );
    assert_eq!(
        st(&engine, "reg-401"),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
    let max = parse_log_line("Maximum retries reached when attempting outbound registration to 'sip:127.0.0.1:15064' with client 'sip:acme@127.0.0.1:15064', stopping registration attempt").unwrap();
    let facts = max.event.facts(&idx).unwrap();
    hosts::apply(&mut engine, 2000, &facts);
    assert_eq!(
        st(&engine, "reg-timeout"),
        (RegState::Stopped, Cause::ServerError)
    );
}

#[test]
fn debug_output_never_shows_a_password() {
    let text = fixture("pjsip.conf");
    let conf = regwatch::hosts::asterisk::parse_conf(&text);
    let objects = conf.objects();
    let ac = AsteriskConfig::from_pjsip_conf(&text);
    let dumps = [
        format!("{conf:?}"),
        format!("{objects:?}"),
        format!("{ac:?}"),
        format!("{:?}", ac.trunks()),
        format!("{:?}", ac.index()),
    ];
    for d in dumps {
        assert!(!d.contains("s3cret"), "{d}");
    }
    assert!(format!("{objects:?}").contains("<redacted>"));
}
