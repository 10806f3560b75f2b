//! What only a network namespace can show: UDP blocked by a firewall while
//! TCP answers (`transport_blocked`), and a name that does not resolve
//! (`dns_failure`). The test creates its own namespace with `ip netns`,
//! drops UDP to the registrar there with iptables (never the host's
//! firewall), and runs its body inside it by re-running this test binary
//! under `ip netns exec`.
mod support;

use regwatch::driver::{options, test_register, CheckOptions, Endpoint, Runner, RunnerConfig};
use regwatch::{Cause, EngineConfig, Event, Output, ProbeResult, Transport, TrunkConfig};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::registrar::{self, Registrar, DOMAIN};

const INNER: &str = "REGWATCH_NETNS_INNER";

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether namespaces and iptables can be used here; says why not.
fn netns_available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let tools = std::path::Path::new("/usr/sbin/iptables").exists()
        && std::path::Path::new("/usr/sbin/ip").exists();
    if root && tools {
        return true;
    }
    let why = if root {
        "ip or iptables is not installed (scripts/install-deps.sh installs them)"
    } else {
        "network namespaces need root"
    };
    if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    false
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        sh(&["ip", "netns", "del", &self.0]);
    }
}

#[test]
fn udp_blocked_and_unresolvable_names_inside_a_namespace() {
    if std::env::var(INNER).is_ok() {
        inner();
        return;
    }
    if !registrar::available() || !netns_available() {
        return;
    }
    let ns = Netns(format!("regwatch-{}", std::process::id()));
    assert!(sh(&["ip", "netns", "add", &ns.0]));
    assert!(sh(&[
        "ip", "netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"
    ]));
    // The firewall of this namespace only: UDP to 5060 is dropped.
    assert!(sh(&[
        "ip", "netns", "exec", &ns.0, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "5060",
        "-j", "DROP",
    ]));
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args([
            "udp_blocked_and_unresolvable_names_inside_a_namespace",
            "--exact",
            "--nocapture",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inside the namespace:\n{text}");
    assert!(text.contains("inner: all checks passed"), "{text}");
    for line in text.lines().filter(|l| l.starts_with("inner:")) {
        println!("{line}");
    }
}

fn trunk(domain: &str, proxy: &str) -> TrunkConfig {
    let mut c = TrunkConfig::new("office");
    c.set("domain", domain).unwrap();
    c.set("username", "alice").unwrap();
    c.set("password", "Alice-Passw0rd-1").unwrap();
    c.set("expires", "600").unwrap();
    if !proxy.is_empty() {
        c.set("proxy", proxy).unwrap();
    }
    c
}

fn inner() {
    // Kamailio on the standard port: this namespace is ours alone.
    let _reg = Registrar::start_on(5060, false);
    let opts = CheckOptions {
        timeout: Duration::from_secs(2),
        ..CheckOptions::default()
    };
    let ep = |t| Endpoint {
        host: "127.0.0.1".to_owned(),
        port: 5060,
        transport: t,
    };
    // One-shot: UDP gets no answer, TCP does.
    let udp = options(&ep(Transport::Udp), DOMAIN, "alice", &opts);
    assert_eq!(udp.result, ProbeResult::Timeout, "{udp:?}");
    let tcp = options(&ep(Transport::Tcp), DOMAIN, "alice", &opts);
    assert_eq!(tcp.result, ProbeResult::Response { code: 200 }, "{tcp:?}");
    println!(
        "inner: OPTIONS over UDP: no answer; over TCP: 200 in {:.1} ms",
        tcp.rtt_ms.unwrap_or(0.0)
    );

    // The keep-alive monitor tells the blocked transport from an outage.
    let mut ec = EngineConfig::default();
    ec.set("keepalive_interval_ms", "3000").unwrap();
    ec.set("keepalive_timeout_ms", "1000").unwrap();
    ec.set("keepalive_confirm_ms", "1000").unwrap();
    let (tx, rx) = mpsc::channel();
    let runner = Runner::start(
        RunnerConfig {
            engine: ec,
            ..RunnerConfig::default()
        },
        Box::new(move |engine, o| {
            if let Output::Event(Event::AlertRaised { cause, trunk, .. }) = o {
                let d = engine.diagnose(*trunk).unwrap();
                let _ = tx.send((*cause, d.summary, Instant::now()));
            }
        }),
    )
    .unwrap();
    let start = Instant::now();
    runner.add_trunk(trunk(DOMAIN, "127.0.0.1:5060")).unwrap();
    let (cause, summary, at) = rx.recv_timeout(Duration::from_secs(10)).expect("an alert");
    assert_eq!(cause, Cause::TransportBlocked, "{summary}");
    assert!(
        summary.contains("UDP") && summary.contains("TCP"),
        "{summary}"
    );
    println!("inner: runner alert after {:?}: {summary}", at - start);

    // A name that does not resolve, in the monitor and in the test REGISTER.
    let mut dns = trunk("nosuch.invalid", "");
    dns.set("name", "lost").unwrap();
    runner.add_trunk(dns).unwrap();
    let (cause, summary, _) = rx.recv_timeout(Duration::from_secs(10)).expect("an alert");
    assert_eq!(cause, Cause::DnsFailure, "{summary}");
    println!("inner: runner alert: {summary}");
    runner.stop();
    let c = test_register(
        &trunk("nosuch.invalid", ""),
        &Endpoint {
            host: "nosuch.invalid".to_owned(),
            port: 5060,
            transport: Transport::Udp,
        },
        &opts,
    );
    assert_eq!(c.cause, Cause::DnsFailure, "{:#?}", c.steps);
    assert!(
        c.diagnosis.summary.contains("nosuch.invalid"),
        "{}",
        c.diagnosis.summary
    );
    println!("inner: test REGISTER: {}", c.diagnosis.summary);
    println!("inner: all checks passed");
}
