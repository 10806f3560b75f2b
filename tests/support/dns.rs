//! Starts dnsmasq (Debian `dnsmasq-base`) on a free loopback port as the
//! DNS of one test, with the SIP records the test gives, and stops it (by
//! its pid) when dropped.
#![allow(dead_code)]
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dns {
    child: Child,
    pub addr: SocketAddr,
}

/// Whether dnsmasq is installed (a missing one fails under
/// REGWATCH_REQUIRE_PEERS=1, else the test says it is skipped).
pub fn available() -> bool {
    let ok = Path::new("/usr/sbin/dnsmasq").exists();
    if !ok {
        if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("dnsmasq is not installed (scripts/install-deps.sh installs dnsmasq-base)");
        }
        eprintln!(
            "skipped: dnsmasq is not installed (scripts/install-deps.sh installs dnsmasq-base)"
        );
    }
    ok
}

impl Dns {
    /// `records` are dnsmasq options (`--srv-host=...`, `--host-record=...`,
    /// `--naptr-record=...`); `zones` the domains it answers for alone
    /// (NXDOMAIN for names it does not know there).
    pub fn start(records: &[String], zones: &[&str]) -> Dns {
        let port = super::registrar::free_port();
        let mut cmd = Command::new("/usr/sbin/dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file",
            "--log-facility=-",
        ])
        .arg(format!("--port={port}"));
        for z in zones {
            cmd.arg(format!("--local=/{z}/"));
        }
        cmd.args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Owned by the guard at once, so every path below stops it.
        let dns = Dns {
            child: cmd.spawn().expect("dnsmasq starts"),
            addr,
        };
        // Ready when it answers on UDP.
        let deadline = Instant::now() + Duration::from_secs(5);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        // A minimal query for "." NS; any answer means it is up.
        let q = [0x12u8, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            let _ = sock.send_to(&q, addr);
            if sock.recv(&mut buf).is_ok() {
                return dns;
            }
        }
        panic!("dnsmasq did not answer");
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
