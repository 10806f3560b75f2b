//! The runner's keep-alives against the project's Kamailio registrar: a
//! healthy registrar is probed quietly; stopping it raises the alert within
//! one interval plus the confirmation probe; restarting it clears the alert
//! and asks the host to re-register.
mod support;

use regwatch::driver::{Runner, RunnerConfig};
use regwatch::{Action, Cause, EngineConfig, Event, Output, TrunkConfig};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::registrar::{self, Registrar, DOMAIN};

#[derive(Debug)]
enum Seen {
    Raised(Cause, Instant),
    Cleared(Instant),
    ReRegister(Instant),
}

fn runner(interval_ms: u64) -> (Runner, mpsc::Receiver<Seen>) {
    let mut ec = EngineConfig::default();
    ec.set("keepalive_interval_ms", &interval_ms.to_string())
        .unwrap();
    ec.set("keepalive_timeout_ms", "1000").unwrap();
    ec.set("keepalive_confirm_ms", "1000").unwrap();
    let (tx, rx) = mpsc::channel();
    let r = Runner::start(
        RunnerConfig {
            engine: ec,
            ..RunnerConfig::default()
        },
        Box::new(move |_, o| {
            let now = Instant::now();
            let seen = match o {
                Output::Event(Event::AlertRaised { cause, .. }) => Seen::Raised(*cause, now),
                Output::Event(Event::AlertCleared { .. }) => Seen::Cleared(now),
                Output::Action(Action::ReRegister { .. }) => Seen::ReRegister(now),
                _ => return,
            };
            let _ = tx.send(seen);
        }),
    )
    .unwrap();
    (r, rx)
}

fn trunk(port: u16, transport: &str) -> TrunkConfig {
    let mut c = TrunkConfig::new("office");
    c.set("domain", DOMAIN).unwrap();
    c.set("username", "alice").unwrap();
    c.set("password", "Alice-Passw0rd-1").unwrap();
    c.set("proxy", &format!("127.0.0.1:{port}")).unwrap();
    c.set("transport", transport).unwrap();
    c
}

fn wait_for(
    rx: &mpsc::Receiver<Seen>,
    within: Duration,
    want: impl Fn(&Seen) -> bool,
) -> Option<Seen> {
    let end = Instant::now() + within;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(s) if want(&s) => return Some(s),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn registrar_stopped_and_restarted_over_udp_and_tcp() {
    if !registrar::available() {
        return;
    }
    for transport in ["udp", "tcp"] {
        let interval = Duration::from_secs(3);
        let reg = Registrar::start(false);
        let port = reg.port;
        let (r, rx) = runner(interval.as_millis() as u64);
        r.add_trunk(trunk(port, transport)).unwrap();
        // Healthy: probes answered, no alert, RTT measured.
        std::thread::sleep(interval * 2 + Duration::from_millis(500));
        let (snap, _) = r.snapshot("office").unwrap().unwrap();
        assert!(
            snap.keepalive.rtt.count >= 1,
            "{transport}: {:?}",
            snap.keepalive
        );
        assert_eq!(snap.keepalive.last_code, Some(200));
        assert!(
            rx.try_recv().is_err(),
            "{transport}: no alert while healthy"
        );

        // Stop the registrar: the alert comes within one interval (until
        // the next probe) plus the confirmation (1 s later) and the
        // timeouts (1 s each).
        let stopped = Instant::now();
        drop(reg);
        let raised = wait_for(&rx, interval + Duration::from_secs(4), |s| {
            matches!(s, Seen::Raised(..))
        })
        .unwrap_or_else(|| panic!("{transport}: no alert after the registrar stopped"));
        let Seen::Raised(cause, at) = raised else {
            unreachable!()
        };
        let took = at - stopped;
        assert!(
            took <= interval + Duration::from_secs(3),
            "{transport}: alert after {took:?}"
        );
        // Nothing listens any more: refused (ICMP port unreachable on UDP,
        // RST on TCP), unless the timeouts come first.
        assert!(
            matches!(
                cause,
                Cause::ConnectionRefused | Cause::RegistrarUnreachable
            ),
            "{transport}: {cause:?}"
        );
        let (_, diag) = r.snapshot("office").unwrap().unwrap();
        assert!(
            diag.evidence
                .iter()
                .any(|e| e.starts_with("OPTIONS keep-alive to 127.0.0.1:")),
            "{:#?}",
            diag.evidence
        );
        println!("{transport}: alert {cause:?} {took:?} after the registrar stopped");

        // Restart it on the same port: cleared, and "re-register now".
        let reg = Registrar::start_on(port, false);
        let restarted = Instant::now();
        let Some(Seen::Cleared(cleared_at)) =
            wait_for(&rx, interval + Duration::from_secs(3), |s| {
                matches!(s, Seen::Cleared(_))
            })
        else {
            panic!("{transport}: alert not cleared after restart");
        };
        let Some(Seen::ReRegister(action_at)) = wait_for(&rx, Duration::from_secs(1), |s| {
            matches!(s, Seen::ReRegister(_))
        }) else {
            panic!("{transport}: no re-register action");
        };
        // The action comes with the clearing, from the same answered probe.
        assert!(action_at.duration_since(cleared_at) < Duration::from_millis(100));
        println!(
            "{transport}: cleared {:?} after the restart",
            restarted.elapsed()
        );
        r.stop();
        drop(reg);
    }
}

#[test]
fn keepalive_over_tls_and_a_wrong_certificate() {
    if !registrar::available() {
        return;
    }
    let reg = Registrar::start_tls();
    let mut ec = EngineConfig::default();
    ec.set("keepalive_interval_ms", "2000").unwrap();
    ec.set("keepalive_timeout_ms", "1000").unwrap();
    ec.set("keepalive_confirm_ms", "1000").unwrap();
    let (tx, rx) = mpsc::channel();
    let r = Runner::start(
        RunnerConfig {
            engine: ec,
            ca_file: Some(reg.ca_file.clone()),
            ..RunnerConfig::default()
        },
        Box::new(move |_, o| {
            if let Output::Event(Event::AlertRaised { cause, name, .. }) = o {
                let _ = tx.send((name.to_string(), *cause));
            }
        }),
    )
    .unwrap();
    let mut good = trunk(reg.tls_port.unwrap(), "tls");
    good.set("name", "good").unwrap();
    let mut bad = trunk(reg.wrong_tls_port.unwrap(), "tls");
    bad.set("name", "bad").unwrap();
    r.add_trunk(good).unwrap();
    r.add_trunk(bad).unwrap();
    let (name, cause) = rx.recv_timeout(Duration::from_secs(8)).expect("an alert");
    assert_eq!((name.as_str(), cause), ("bad", Cause::TlsFailure));
    std::thread::sleep(Duration::from_secs(2));
    let (snap, _) = r.snapshot("good").unwrap().unwrap();
    assert!(snap.keepalive.rtt.count >= 1, "{:?}", snap.keepalive);
    assert_eq!(snap.keepalive.failed, 0);
    assert_eq!(snap.keepalive.last_code, Some(200));
    assert!(rx.try_recv().is_err(), "no alert for the good one");
    r.stop();
}
