//! 24 hours on the fake clock: each PBX's own refresh schedule and its
//! retries, fed the way its module feeds them (Asterisk: the SIP it sends
//! and receives plus stasis `Registry` messages; FreeSWITCH: sofia's
//! gateway events), must raise no false alert and make one state event
//! per change of (state, cause), not one per refresh or retry.
//!
//! Each policy is also run against the generic 50 % rule, which the field
//! showed to alarm on every healthy Asterisk trunk: the same feed must
//! then raise `refresh_late`, so these tests can fail.
use regwatch::core::ProbeResult;
use regwatch::hosts::asterisk::AsteriskSession;
use regwatch::hosts::freeswitch::FreeswitchSession;
use regwatch::hosts::settings::HostSettings;
use regwatch::{Cause, Direction, Engine, EngineConfig, Event, Output, RegState};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// What a run produced, counted.
#[derive(Debug, Default)]
struct Counts {
    states: Vec<(u64, RegState, RegState, Cause)>,
    alerts: Vec<(u64, Cause)>,
    cleared: usize,
    probes: usize,
}

impl Counts {
    /// Takes the engine's outputs; its keep-alive OPTIONS are answered
    /// 200 at once, as a healthy registrar answers them.
    fn drain(&mut self, e: &mut Engine, trunk: &str) {
        while let Some(o) = e.poll_output() {
            match o {
                Output::Transmit(p) => {
                    self.probes += 1;
                    e.handle_probe_result(
                        p.at_ms,
                        p.trunk,
                        p.id,
                        ProbeResult::Response { code: 200 },
                        Some(20_000),
                    )
                    .unwrap();
                }
                Output::Event(Event::StateChanged {
                    name,
                    at_ms,
                    from,
                    to,
                    cause,
                    ..
                }) if &*name == trunk => self.states.push((at_ms, from, to, cause)),
                Output::Event(Event::AlertRaised {
                    name, at_ms, cause, ..
                }) if &*name == trunk => self.alerts.push((at_ms, cause)),
                Output::Event(Event::AlertCleared { name, .. }) if &*name == trunk => {
                    self.cleared += 1
                }
                _ => {}
            }
        }
    }

    /// State events after the first time the trunk reached `registered`.
    fn states_after_registered(&self) -> usize {
        match self.states.iter().position(|s| s.2 == RegState::Registered) {
            Some(i) => self.states.len() - i - 1,
            None => self.states.len(),
        }
    }
}

/// Fires every engine timer due up to `t`.
fn run_to(e: &mut Engine, c: &mut Counts, trunk: &str, t: u64) {
    while let Some(at) = e.poll_timeout() {
        if at > t {
            break;
        }
        e.handle_timeout(at);
        c.drain(e, trunk);
    }
}

// --- Asterisk -------------------------------------------------------------------

const PJSIP: &str = "\
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:5070

[good-auth]
type = auth
auth_type = userpass
username = alice
password = Alice-Passw0rd-1

[good]
type = registration
transport = transport-udp
server_uri = sip:acme.sip.twilio.com
client_uri = sip:alice@acme.sip.twilio.com
contact_user = good
outbound_auth = good-auth
outbound_proxy = sip:127.0.0.4:5060\\;lr
expiration = 600
retry_interval = 60
forbidden_retry_interval = 60
max_retries = 100000
";

/// The REGISTER Asterisk sends (PJSIP's shape, from the project's
/// captures), with credentials when `auth`.
fn ast_register(cseq: u32, auth: bool) -> String {
    let authz = if auth {
        "Proxy-Authorization: Digest username=\"alice\", realm=\"sip.twilio.com\", nonce=\"n\", uri=\"sip:acme.sip.twilio.com\", response=\"00000000000000000000000000000000\", algorithm=MD5\r\n"
    } else {
        ""
    };
    format!(
        "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bKPj{cseq}\r\n\
         From: <sip:alice@acme.sip.twilio.com>;tag=ast-tag\r\n\
         To: <sip:alice@acme.sip.twilio.com>\r\n\
         Call-ID: ast-call-1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:good@127.0.0.1:5070>\r\n\
         Expires: 600\r\n\
         Max-Forwards: 70\r\n\
         User-Agent: Asterisk PBX 22.10.1\r\n\
         {authz}Content-Length:  0\r\n\r\n"
    )
}

fn ast_response(cseq: u32, code: u16, granted: u32) -> String {
    let (reason, extra) = match code {
        200 => (
            "OK",
            format!("Contact: <sip:good@127.0.0.1:5070>;expires={granted}\r\n"),
        ),
        407 => (
            "Proxy Authentication Required",
            "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", nonce=\"n\", qop=\"auth\", algorithm=MD5\r\n".to_owned(),
        ),
        403 => ("Forbidden", String::new()),
        _ => ("Other", String::new()),
    };
    format!(
        "SIP/2.0 {code} {reason}\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bKPj{cseq}\r\n\
         From: <sip:alice@acme.sip.twilio.com>;tag=ast-tag\r\n\
         To: <sip:alice@acme.sip.twilio.com>;tag=reg-tag\r\n\
         Call-ID: ast-call-1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         {extra}Server: Twilio\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn registry(status: &str) -> String {
    format!(
        r#"{{"type":"registry","channeltype":"PJSIP","username":"sip:alice@acme.sip.twilio.com","domain":"sip:acme.sip.twilio.com","status":"{status}","cause":""}}"#
    )
}

struct Asterisk {
    e: Engine,
    s: AsteriskSession,
    c: Counts,
    cseq: u32,
}

impl Asterisk {
    /// The `good` registration read from pjsip.conf as res_regwatch reads
    /// it; `extra` are regwatch.conf keys (e.g. a refresh policy).
    fn new(extra: &[(&str, &str, &str)]) -> Asterisk {
        let mut settings = HostSettings::new();
        for (section, k, v) in extra {
            settings.set(Some(section), k, v).unwrap();
        }
        let mut e = Engine::new(EngineConfig::default(), 0, 7);
        settings.apply(&mut e);
        let mut s = AsteriskSession::new();
        s.pjsip_conf(&mut e, 0, &settings, PJSIP).unwrap();
        let mut c = Counts::default();
        c.drain(&mut e, "good");
        Asterisk { e, s, c, cseq: 100 }
    }

    fn sip(&mut self, at: u64, dir: Direction, msg: &str) {
        run_to(&mut self.e, &mut self.c, "good", at);
        self.e.observe_sip(at, dir, None, msg.as_bytes()).unwrap();
        self.c.drain(&mut self.e, "good");
    }

    /// One REGISTER transaction with its challenge; returns the final code.
    fn attempt(&mut self, at: u64, final_code: u16, granted: u32) {
        let n = self.cseq;
        self.cseq += 2;
        self.sip(at, Direction::Sent, &ast_register(n, false));
        self.sip(at + 20, Direction::Received, &ast_response(n, 407, 0));
        self.sip(at + 22, Direction::Sent, &ast_register(n + 1, true));
        self.sip(
            at + 45,
            Direction::Received,
            &ast_response(n + 1, final_code, granted),
        );
        let status = if final_code == 200 {
            "Registered"
        } else {
            "Rejected"
        };
        self.s
            .registry_json(&mut self.e, at + 46, &registry(status))
            .unwrap();
        self.c.drain(&mut self.e, "good");
    }

    fn state(&self) -> (RegState, Cause) {
        let id = self.e.find_trunk("good").unwrap();
        self.e.trunk_state(id).unwrap()
    }
}

/// Asterisk with the registrar granting `granted` s: it refreshes
/// REREGISTER_BUFFER_TIME (10 s) before the granted expiry, all day.
fn asterisk_day(granted: u32, extra: &[(&str, &str, &str)]) -> (Asterisk, usize) {
    let mut a = Asterisk::new(extra);
    let mut at = 1_000;
    let mut cycles = 0;
    while at < DAY_MS {
        a.attempt(at, 200, granted);
        cycles += 1;
        at += 45 + (u64::from(granted) - 10) * 1000;
    }
    run_to(&mut a.e, &mut a.c, "good", DAY_MS);
    (a, cycles)
}

#[test]
fn asterisk_refreshing_a_120_s_grant_for_a_day_raises_nothing() {
    let (a, cycles) = asterisk_day(120, &[]);
    assert_eq!(cycles, 786);
    assert!(a.c.probes > 1000, "{} keep-alives", a.c.probes);
    assert_eq!(a.c.alerts, vec![], "no alert in 24 h");
    assert_eq!(a.c.cleared, 0);
    assert_eq!(
        a.c.states_after_registered(),
        0,
        "{:?}",
        &a.c.states[..a.c.states.len().min(6)]
    );
    // 120 s granted where 600 s was asked: registered, with the drift
    // said (a warning, no alert).
    assert_eq!(a.state(), (RegState::Registered, Cause::ExpiryDrift));
    // configured → registering → registered, nothing after.
    assert_eq!(
        a.c.states.len(),
        2,
        "{:?}",
        &a.c.states[..a.c.states.len().min(6)]
    );
}

#[test]
fn asterisk_expiration_600_as_in_the_field_raises_nothing() {
    // The field report: expiration=600 granted 600, refresh at 590 s; the
    // 50 % rule alarmed at 330 s and never cleared.
    let (a, cycles) = asterisk_day(600, &[]);
    assert_eq!(cycles, 147);
    assert_eq!(a.c.alerts, vec![]);
    assert_eq!(
        a.c.states_after_registered(),
        0,
        "{:?}",
        &a.c.states[..a.c.states.len().min(6)]
    );
}

#[test]
fn the_generic_half_way_rule_would_alarm_on_the_same_asterisk() {
    let (a, _) = asterisk_day(600, &[("general", "refresh_policy", "ratio")]);
    // A trunk's own key wins over the engine's: the adapter's policy is
    // per trunk, so the test forces the ratio on the trunk itself.
    let (b, _) = asterisk_day(600, &[("good", "refresh_policy", "ratio")]);
    assert_eq!(
        a.c.alerts,
        vec![],
        "the engine default does not override the PBX"
    );
    assert!(
        b.c.alerts.iter().any(|(_, c)| *c == Cause::RefreshLate),
        "the 50 % rule must alarm on Asterisk's schedule: {:?}",
        b.c.alerts
    );
}

#[test]
fn asterisk_retrying_a_wrong_password_for_a_day_makes_one_alert() {
    // forbidden_retry_interval = 60: a REGISTER, its challenge, the
    // credentials and a 403 every 60 s for 24 h.
    let mut a = Asterisk::new(&[]);
    let mut at = 1_000;
    let mut retries = 0;
    while at < DAY_MS {
        a.attempt(at, 403, 0);
        retries += 1;
        at += 60_000;
    }
    run_to(&mut a.e, &mut a.c, "good", DAY_MS);
    assert_eq!(retries, 1440);
    assert_eq!(a.state(), (RegState::Rejected, Cause::CredentialsRejected));
    assert_eq!(
        a.c.alerts.iter().map(|a| a.1).collect::<Vec<_>>(),
        vec![Cause::CredentialsRejected]
    );
    assert_eq!(a.c.cleared, 0);
    // configured → registering → rejected; no registering ↔ rejected per retry.
    assert_eq!(
        a.c.states.len(),
        2,
        "{:?}",
        &a.c.states[..a.c.states.len().min(6)]
    );
    // The history keeps the retry cycle once, with its count.
    let id = a.e.find_trunk("good").unwrap();
    let snap = a.e.snapshot(id).unwrap();
    // (The fold may start the cycle anywhere in it: "the five entries
    // up to this one happened N more times".)
    let repeats: u32 = snap.history.iter().map(|h| h.repeats).sum();
    assert!(repeats >= 1438, "{repeats}");
    assert!(snap.history.len() <= 16, "{}", snap.history.len());
    assert!(snap.history.iter().any(|h| h.code == 403));
    assert!(snap.history.len() <= 12, "{}", snap.history.len());
}

// --- FreeSWITCH ------------------------------------------------------------------

const GATEWAYS: &str = r#"<include>
  <gateway name="good">
    <param name="username" value="alice"/>
    <param name="password" value="Alice-Passw0rd-1"/>
    <param name="realm" value="acme.sip.twilio.com"/>
    <param name="proxy" value="127.0.0.4:5060"/>
    <param name="register" value="true"/>
    <param name="expire-seconds" value="120"/>
    <param name="retry-seconds" value="30"/>
  </gateway>
</include>"#;

struct Freeswitch {
    e: Engine,
    s: FreeswitchSession,
    c: Counts,
}

impl Freeswitch {
    fn new(extra: &[(&str, &str, &str)]) -> Freeswitch {
        let mut settings = HostSettings::new();
        for (section, k, v) in extra {
            settings.set(Some(section), k, v).unwrap();
        }
        let mut e = Engine::new(EngineConfig::default(), 0, 7);
        settings.apply(&mut e);
        let mut s = FreeswitchSession::new();
        s.gateways_xml(&mut e, 0, &settings, GATEWAYS).unwrap();
        let mut c = Counts::default();
        c.drain(&mut e, "good");
        Freeswitch { e, s, c }
    }

    /// One `sofia::gateway_state` event.
    fn ev(&mut self, at: u64, state: &str, status: Option<&str>) {
        run_to(&mut self.e, &mut self.c, "good", at);
        let mut h = vec![
            ("Event-Subclass", "sofia::gateway_state"),
            ("Gateway", "good"),
            ("State", state),
            ("Ping-Status", "UP"),
        ];
        if let Some(s) = status {
            h.push(("Status", s));
            h.push(("Phrase", if s == "200" { "OK" } else { "Forbidden" }));
        }
        self.s.event(&mut self.e, at, &h).unwrap();
        self.c.drain(&mut self.e, "good");
    }

    fn state(&self) -> (RegState, Cause) {
        let id = self.e.find_trunk("good").unwrap();
        self.e.trunk_state(id).unwrap()
    }
}

/// sofia's events for one registration round: the first is TRYING, the
/// 200 (REGISTER) and REGED; a refresh by sofia-sip's own timer (the
/// measured case) is REGISTER then REGED.
fn fs_round(f: &mut Freeswitch, at: u64, first: bool) {
    if first {
        f.ev(at, "TRYING", None);
    }
    f.ev(at + 50, "REGISTER", Some("200"));
    f.ev(at + 1000, "REGED", None);
}

#[test]
fn freeswitch_refreshing_for_a_day_raises_nothing() {
    let mut f = Freeswitch::new(&[]);
    // expire-seconds=120 granted 120: measured every 74-86 s; sofia-sip
    // may wait up to 90 s. Each interval here is drawn from 74-90 s.
    let mut at = 1_000;
    let mut rounds = 0u64;
    while at < DAY_MS {
        fs_round(&mut f, at, rounds == 0);
        rounds += 1;
        at += 50 + 74_000 + (rounds * 7919 % 16_000);
    }
    run_to(&mut f.e, &mut f.c, "good", DAY_MS);
    assert!(rounds > 900, "{rounds}");
    assert!(f.c.probes > 1000, "{} keep-alives", f.c.probes);
    assert_eq!(f.c.alerts, vec![]);
    assert_eq!(
        f.c.states_after_registered(),
        0,
        "{:?}",
        &f.c.states[..f.c.states.len().min(6)]
    );
    assert_eq!(f.state(), (RegState::Registered, Cause::Healthy));
}

#[test]
fn the_generic_half_way_rule_would_alarm_on_the_same_freeswitch() {
    let mut f = Freeswitch::new(&[("good", "refresh_policy", "ratio")]);
    let mut at = 1_000;
    for round in 0..20 {
        fs_round(&mut f, at, round == 0);
        at += 50 + 90_000;
    }
    assert!(
        f.c.alerts.iter().any(|(_, c)| *c == Cause::RefreshLate),
        "{:?}",
        f.c.alerts
    );
}

#[test]
fn freeswitch_retrying_a_403_for_a_day_makes_one_alert() {
    let mut f = Freeswitch::new(&[]);
    // retry-seconds=30: TRYING, FAILED 403, FAIL_WAIT, then UNREGED and
    // TRYING again 30 s later (failures multiply the wait in sofia; a
    // constant wait is the worst case for noise).
    let mut at = 1_000;
    let mut retries = 0;
    while at < DAY_MS {
        f.ev(at, "TRYING", None);
        f.ev(at + 40, "FAILED", Some("403"));
        f.ev(at + 1000, "FAIL_WAIT", None);
        f.ev(at + 31_000, "UNREGED", None);
        retries += 1;
        at += 32_000;
    }
    run_to(&mut f.e, &mut f.c, "good", DAY_MS);
    assert_eq!(retries, 2700);
    assert_eq!(f.c.alerts.len(), 1, "{:?}", f.c.alerts);
    assert_eq!(f.c.cleared, 0);
    assert_eq!(f.state().0, RegState::Rejected);
    assert!(
        f.c.states.len() <= 3,
        "{:?}",
        &f.c.states[..f.c.states.len().min(6)]
    );
}
