//! The runner against hostile peers on loopback.
use super::*;
use crate::core::Cause;
use std::net::TcpListener;
use std::time::Duration;

/// A TCP peer on loopback writing `bytes` to every connection until it
/// goes away.
fn flooding_peer(bytes: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || while std::io::Write::write_all(&mut s, bytes).is_ok() {});
        }
    });
    addr
}

fn runner() -> Runner {
    let mut engine = EngineConfig::default();
    for (k, v) in [
        ("keepalive_interval_ms", "1000"),
        ("keepalive_timeout_ms", "2000"),
        ("keepalive_confirm_ms", "200"),
        ("keepalive_alternates", "off"),
    ] {
        engine.set(k, v).unwrap();
    }
    let cfg = RunnerConfig {
        engine,
        ..RunnerConfig::default()
    };
    Runner::start(cfg, Box::new(|_, _| {})).unwrap()
}

fn trunk(name: &str, addr: SocketAddr) -> TrunkConfig {
    let mut c = TrunkConfig::new(name);
    for (k, v) in [
        ("domain", "hostile.test"),
        ("username", "alice"),
        ("password", "Hostile-Peers-Test-9"),
        ("transport", "tcp"),
        ("proxy", &addr.to_string()),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

/// Waits (at most 20 s) for the trunk's diagnosis to be `cause`.
fn diagnosis_of(r: &Runner, name: &str, cause: Cause) -> Diagnosis {
    for _ in 0..200 {
        let (_, d) = r.snapshot(name).unwrap().unwrap();
        if d.cause == cause {
            return d;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name}: no {cause} diagnosis: {:?}", r.snapshot(name));
}

#[test]
fn flooding_peers_lose_their_connection_and_are_named() {
    let r = runner();
    let bytes = flooding_peer(&[b'A'; 16384]);
    let crs = flooding_peer(&[b'\r'; 16384]);
    r.add_trunk(trunk("bytes", bytes)).unwrap();
    r.add_trunk(trunk("crs", crs)).unwrap();
    for name in ["bytes", "crs"] {
        let d = diagnosis_of(&r, name, Cause::ProtocolError);
        assert!(
            d.summary.contains("bytes without a complete SIP message")
                && d.summary.contains("over TCP is not SIP"),
            "{}",
            d.summary
        );
    }
    assert!(r.connections_dropped() >= 2);
}
