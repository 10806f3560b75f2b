//! A second, independent client: SIPp registers to the same Kamailio with
//! the same credentials as regwatch's test REGISTER. SIPp's own message
//! trace, fed through an engine's raw-SIP observation, must give the same
//! final answer and the same cause as regwatch's check: our verdicts agree
//! with what a real client experiences.
mod support;

use regwatch::driver::{test_register, CheckOptions, Endpoint};
use regwatch::{Cause, Direction, Engine, EngineConfig, Transport, TrunkConfig};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::registrar::{self, Registrar, DOMAIN};

fn sipp_available() -> bool {
    let ok = Path::new("/usr/bin/sipp").exists();
    if !ok {
        if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("sipp is not installed (scripts/install-deps.sh installs sip-tester)");
        }
        eprintln!("skipped: sipp is not installed (scripts/install-deps.sh installs sip-tester)");
    }
    ok
}

/// (direction as SIPp, the client, saw it, message) from `-trace_msg`.
fn sipp_trace(text: &str) -> Vec<(Direction, String)> {
    let mut out = Vec::new();
    for block in text.split("-----------------------------------------------") {
        let dir = if block.contains("message sent") {
            Direction::Sent
        } else if block.contains("message received") {
            Direction::Received
        } else {
            continue;
        };
        let Some(start) = block.find("\n\n") else {
            continue;
        };
        let msg = block[start + 2..].trim_start_matches('\n');
        if !msg.trim().is_empty() {
            // SIPp logs LF line ends; the parser takes them as they are.
            out.push((dir, msg.to_owned()));
        }
    }
    out
}

fn trunk(user: &str, auth_user: &str, password: &str, domain: &str, expires: u32) -> TrunkConfig {
    let mut c = TrunkConfig::new("office");
    c.set("domain", domain).unwrap();
    c.set("username", user).unwrap();
    if auth_user != user {
        c.set("auth_username", auth_user).unwrap();
    }
    c.set("password", password).unwrap();
    c.set("expires", &expires.to_string()).unwrap();
    c
}

/// Runs SIPp once; returns its final status code and the engine's cause
/// for SIPp's trace.
fn sipp_register(port: u16, cfg: &TrunkConfig, dir: &Path) -> (u16, Cause) {
    let inf = dir.join("inf.csv");
    std::fs::write(
        &inf,
        format!(
            "SEQUENTIAL\n{};{};{}\n",
            cfg.domain,
            cfg.username,
            cfg.expires.unwrap_or(600)
        ),
    )
    .unwrap();
    let log = dir.join("messages.log");
    let _ = std::fs::remove_file(&log);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/register.xml");
    let status = Command::new("sipp")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&inf)
        .args(["-au", cfg.auth_user(), "-ap"])
        .arg(cfg.password.as_ref().map(|p| p.expose()).unwrap_or(""))
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "10",
        ])
        .args(["-trace_msg", "-message_file"])
        .arg(&log)
        .current_dir(dir)
        .output()
        .expect("sipp runs");
    assert!(
        status.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&status.stdout)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let msgs = sipp_trace(&text);
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    let id = engine.add_trunk(0, cfg.clone()).unwrap();
    let mut last = 0;
    for (i, (d, m)) in msgs.iter().enumerate() {
        engine
            .observe_sip(i as u64 + 1, *d, Some(Transport::Udp), m.as_bytes())
            .unwrap();
        if *d == Direction::Received {
            last = regwatch::sip::parse(m.as_bytes())
                .unwrap()
                .status()
                .unwrap();
        }
    }
    (last, engine.trunk_state(id).unwrap().1)
}

#[test]
fn sipp_and_regwatch_agree() {
    if !registrar::available() || !sipp_available() {
        return;
    }
    let reg = Registrar::start(false);
    let dir = std::env::temp_dir().join(format!("regwatch-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ep = Endpoint {
        host: "127.0.0.1".to_owned(),
        port: reg.port,
        transport: Transport::Udp,
    };
    let opts = CheckOptions {
        timeout: Duration::from_secs(3),
        ..CheckOptions::default()
    };
    let cases = [
        (
            trunk("alice", "alice", "Alice-Passw0rd-1", DOMAIN, 600),
            200,
            Cause::Healthy,
        ),
        (
            trunk("alice", "alice", "Wrong-Passw0rd-9", DOMAIN, 600),
            403,
            Cause::CredentialsRejected,
        ),
        (
            trunk("carol", "carol", "Carol-Passw0rd-3", DOMAIN, 600),
            403,
            Cause::CredentialsRejected,
        ),
        (
            trunk("alice", "bob", "Bob-Passw0rd-22", DOMAIN, 600),
            403,
            Cause::AuthUsernameMismatch,
        ),
        (
            trunk(
                "alice",
                "alice",
                "Alice-Passw0rd-1",
                "other.sip.twilio.com",
                600,
            ),
            404,
            Cause::DomainNotFound,
        ),
    ];
    for (cfg, code, cause) in cases {
        let (sipp_code, sipp_cause) = sipp_register(reg.port, &cfg, &dir);
        let ours = test_register(&cfg, &ep, &opts);
        let our_code = ours
            .steps
            .iter()
            .filter(|s| !s.request.starts_with("REGISTER Expires: 0"))
            .filter_map(|s| s.code)
            .next_back()
            .unwrap();
        println!(
            "{}@{} as {}: SIPp {sipp_code} -> {}; regwatch {our_code} -> {}",
            cfg.username,
            cfg.domain,
            cfg.auth_user(),
            sipp_cause.as_str(),
            ours.cause.as_str()
        );
        assert_eq!((sipp_code, our_code), (code, code), "{cfg:?}");
        assert_eq!((sipp_cause, ours.cause), (cause, cause), "{cfg:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
