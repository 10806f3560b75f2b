//! A runner leaves nothing behind: after `stop()` the process has the same
//! open file descriptors and threads as before it started, though it had
//! UDP, TCP and TLS connections open. (Its own test binary, so no other
//! test opens files or threads meanwhile.)
mod support;

use regwatch::driver::{Runner, RunnerConfig};
use regwatch::{EngineConfig, TrunkConfig};
use std::time::Duration;
use support::registrar::{self, Registrar, DOMAIN};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn stop_closes_every_socket_and_joins_the_thread() {
    if !registrar::available() {
        return;
    }
    let reg = Registrar::start_tls();
    let (fds, threads) = (count("/proc/self/fd"), count("/proc/self/task"));
    let mut ec = EngineConfig::default();
    ec.set("keepalive_interval_ms", "1000").unwrap();
    let r = Runner::start(
        RunnerConfig {
            engine: ec,
            ca_file: Some(reg.ca_file.clone()),
            ..RunnerConfig::default()
        },
        Box::new(|_, _| {}),
    )
    .unwrap();
    for (name, transport, port) in [
        ("u", "udp", reg.port),
        ("t", "tcp", reg.port),
        ("s", "tls", reg.tls_port.unwrap()),
    ] {
        let mut c = TrunkConfig::new(name);
        c.set("domain", DOMAIN).unwrap();
        c.set("username", "alice").unwrap();
        c.set("password", "Alice-Passw0rd-1").unwrap();
        c.set("transport", transport).unwrap();
        c.set("proxy", &format!("127.0.0.1:{port}")).unwrap();
        r.add_trunk(c).unwrap();
    }
    std::thread::sleep(Duration::from_millis(2500));
    for name in ["u", "t", "s"] {
        let (snap, _) = r.snapshot(name).unwrap().unwrap();
        assert_eq!(
            snap.keepalive.last_code,
            Some(200),
            "{name}: {:?}",
            snap.keepalive
        );
    }
    let (fds_running, threads_running) = (count("/proc/self/fd"), count("/proc/self/task"));
    assert!(
        fds_running >= fds + 4,
        "{fds} -> {fds_running}: poller, UDP, TCP, TLS"
    );
    assert_eq!(threads_running, threads + 1);
    r.stop();
    assert_eq!(count("/proc/self/fd"), fds, "file descriptors left open");
    assert_eq!(count("/proc/self/task"), threads, "a thread left running");
}
