use super::*;
use crate::core::{Challenge, Observation, RegisterResponse, RegisterSent, TrunkConfig};
use crate::validate::Transport;

fn sent(with_credentials: bool) -> Observation<'static> {
    Observation::RegisterSent(RegisterSent {
        expires: Some(600),
        with_credentials,
        transport: None,
        credentials_unknown: false,
    })
}

fn answer(code: u16, granted: Option<u32>) -> Observation<'static> {
    Observation::RegisterResponse(RegisterResponse {
        code,
        reason: "R",
        granted_expires: granted,
        contact_bound: (code == 200).then_some(true),
        challenge: (code == 401).then_some(Challenge {
            realm: "sip.example.com",
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Two trunks: `a` registers through a challenge (180 ms from its first
/// REGISTER to the 200, granted the 600 s asked) and is looked at 20 s later; `b`
/// has its credentials refused twice.
fn fed() -> Engine {
    let mut e = Engine::new(crate::core::EngineConfig::default(), 0, 1);
    let mut a = TrunkConfig::new("a");
    a.set("domain", "sip.example.com").unwrap();
    a.set("username", "alice").unwrap();
    a.set("password", "Sup3rSecretPassw0rd").unwrap();
    a.set("transport", "tcp").unwrap();
    let a = e.add_trunk(1_000, a).unwrap();
    let mut b = TrunkConfig::new("b");
    b.set("domain", "pbx.example.net").unwrap();
    b.set("username", "bob").unwrap();
    b.set("password", "An0therSecretPassw0rd").unwrap();
    let b = e.add_trunk(1_000, b).unwrap();
    e.handle_observation(10_000, a, sent(false)).unwrap();
    e.handle_observation(10_060, a, answer(401, None)).unwrap();
    e.handle_observation(10_070, a, sent(true)).unwrap();
    e.handle_observation(10_180, a, answer(200, Some(600)))
        .unwrap();
    for t in [11_000, 12_000] {
        e.handle_observation(t, b, sent(true)).unwrap();
        e.handle_observation(t + 40, b, answer(403, None)).unwrap();
    }
    e.handle_timeout(30_180);
    e
}

const HEAD_UP: &str = "# HELP regwatch_trunk_up 1 when the trunk is registered (or not registering), its registrar answers and no alert is raised; cause: the diagnosis.\n# TYPE regwatch_trunk_up gauge\n";

#[test]
fn a_fed_engine_renders_exactly() {
    let e = fed();
    let text = render_engine(&e, "pbx-1");
    let want = include_str!("fed_engine.prom");
    assert_eq!(text, want, "got:\n{text}");
    assert!(text.starts_with(HEAD_UP));
    assert!(!text.contains("Passw0rd"));
}

#[test]
fn without_a_host_the_label_is_left_out() {
    let text = render_engine(&fed(), "");
    assert!(!text.contains("host="));
    assert!(text.contains("regwatch_trunk_up{trunk=\"a\",domain=\"sip.example.com\",transport=\"tcp\",cause=\"healthy\"} 1\n"));
    assert!(text.ends_with("regwatch_alerts_active 1\n"));
}

#[test]
fn keepalive_figures_and_odd_label_values() {
    let e = fed();
    let id = e.find_trunk("a").unwrap();
    let mut s = e.snapshot(id).unwrap();
    let d = e.diagnose(id).unwrap();
    s.name = "a \"quoted\" \\ name\nwith a newline".into();
    s.keepalive.rtt.count = 3;
    s.keepalive.rtt.ewma_us = 1_234_500;
    s.keepalive.sent = 7;
    s.keepalive.failed = 2;
    s.keepalive.failures_in_row = 1;
    s.credentials_ok = Some(false);
    s.binding_present = Some(true);
    s.transport = Some(Transport::Tls);
    let text = render(&[(s, d)], "h\"1");
    let labels = "trunk=\"a \\\"quoted\\\" \\\\ name\\nwith a newline\",host=\"h\\\"1\",domain=\"sip.example.com\",transport=\"tls\"";
    for line in [
        format!("regwatch_keepalive_rtt_seconds{{{labels}}} 1.2345\n"),
        format!("regwatch_keepalive_probes_total{{{labels}}} 7\n"),
        format!("regwatch_keepalive_failures_total{{{labels}}} 2\n"),
        format!("regwatch_keepalive_failures_in_row{{{labels}}} 1\n"),
        format!("regwatch_trunk_credentials_ok{{{labels}}} 0\n"),
        format!("regwatch_trunk_binding_present{{{labels}}} 1\n"),
        "regwatch_alerts_active{host=\"h\\\"1\"} 0\n".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} not in:\n{text}");
    }
}

#[test]
fn seconds_are_shown_without_trailing_zeros() {
    assert_eq!(Secs(0).to_string(), "0");
    assert_eq!(Secs(60_000).to_string(), "60");
    assert_eq!(Secs(1_500).to_string(), "1.5");
    assert_eq!(Secs(1).to_string(), "0.001");
    assert_eq!(Micros(1_000_001).to_string(), "1.000001");
    assert_eq!(Micros(250_000).to_string(), "0.25");
}

#[test]
fn no_trunks_still_says_how_many_alerts() {
    let e = Engine::new(crate::core::EngineConfig::default(), 0, 1);
    let text = render_engine(&e, "x");
    assert!(text
        .ends_with("# TYPE regwatch_alerts_active gauge\nregwatch_alerts_active{host=\"x\"} 0\n"));
    assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 1);
}
