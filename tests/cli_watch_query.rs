//! `regwatch watch --register-interval` for real, against the project's
//! Kamailio (Twilio-like: 407 with realm sip.twilio.com, 403 on a wrong
//! password): a wrong password raises `credentials_rejected` while the
//! trunk's OPTIONS are answered; a binding made by SIPp is seen by the
//! credential query, and `binding_missing` is raised when Kamailio
//! restarts and loses it, cleared when SIPp registers again. Every JSON
//! event carries an RFC 3339 timestamp; no password appears anywhere.
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::registrar::{self, Registrar, DOMAIN, USERS};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");
const WRONG: &str = "Not-The-Passw0rd-9";

fn get_metrics(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("regwatch-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `regwatch watch --json` on `config`, its stdout lines on a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<serde_json::Value>,
}

impl Watch {
    fn start(config: &Path, metrics_port: u16, register_interval: &str) -> Watch {
        let mut child = Command::new(BIN)
            .args(["watch", "--json", "--config"])
            .arg(config)
            .args([
                "--interval",
                "1",
                "--register-interval",
                register_interval,
                "--metrics",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to `within` for an event `f` accepts; every line read is
    /// kept in `seen`.
    fn wait(
        &mut self,
        within: Duration,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let end = Instant::now() + within;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(l) = self.lines.recv_timeout(left) else {
                break;
            };
            let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_else(|e| {
                panic!("not JSON ({e}): {l}");
            });
            self.seen.push(v.clone());
            if f(&v) {
                return Some(v);
            }
        }
        None
    }

    fn stop(mut self) -> Vec<serde_json::Value> {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            if let Ok(v) = serde_json::from_str(&l) {
                self.seen.push(v);
            }
        }
        self.seen
    }
}

/// `2026-12-04T22:15:03.127Z`: RFC 3339, UTC, milliseconds.
fn rfc3339_ms(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && s.ends_with('Z')
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit())
}

fn check_events(seen: &[serde_json::Value], secrets: &[&str]) {
    assert!(!seen.is_empty());
    for v in seen {
        println!("{v}");
        let t = v["time"].as_str().unwrap_or("");
        assert!(rfc3339_ms(t), "no RFC 3339 time: {v}");
        let text = v.to_string();
        for s in secrets {
            assert!(!text.contains(s), "a password in an event: {text}");
        }
    }
}

/// The value of `name` for trunk `trunk`.
fn metric(m: &str, name: &str, trunk: &str) -> Option<String> {
    support::prom::sample(m, name, &[("trunk", trunk)])
}

#[test]
fn a_wrong_password_alerts_within_ten_seconds_while_options_answer() {
    if !registrar::available() {
        return;
    }
    let reg = Registrar::start(false);
    let metrics_port = registrar::free_port();
    let dir = temp_dir("watch-query-wrong");
    let config = dir.join("trunks.toml");
    std::fs::write(
        &config,
        format!(
            "[[trunk]]\nname = \"wrongpw\"\ndomain = \"{DOMAIN}\"\nusername = \"alice\"\npassword = \"{WRONG}\"\nproxy = \"127.0.0.1:{}\"\ntransport = \"udp\"\n",
            reg.port
        ),
    )
    .unwrap();
    let started = Instant::now();
    let mut w = Watch::start(&config, metrics_port, "5");
    let alert = w.wait(Duration::from_secs(10), |v| {
        v["event"] == "alert_raised" && v["trunk"] == "wrongpw"
    });
    let took = started.elapsed();
    let alert = alert.unwrap_or_else(|| panic!("no alert in 10 s: {:?}", w.seen));
    assert_eq!(alert["cause"], "credentials_rejected", "{alert}");
    assert!(
        alert["summary"].as_str().unwrap().contains("password"),
        "{alert}"
    );
    println!("credentials_rejected after {} ms", took.as_millis());
    // The OPTIONS are answered all along: 200, no failure in a row, and
    // the only alert is the credential one.
    let mut m = String::new();
    let answered = (0..50).any(|_| {
        m = get_metrics(metrics_port);
        let ok = metric(&m, "regwatch_keepalive_rtt_seconds", "wrongpw").is_some();
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(answered, "{m}");
    assert_eq!(
        metric(&m, "regwatch_last_status_code", "wrongpw").as_deref(),
        Some("200"),
        "{m}"
    );
    assert_eq!(
        metric(&m, "regwatch_keepalive_failures_in_row", "wrongpw").as_deref(),
        Some("0"),
        "{m}"
    );
    assert_eq!(
        metric(&m, "regwatch_trunk_credentials_ok", "wrongpw").as_deref(),
        Some("0"),
        "{m}"
    );
    assert!(
        support::prom::sample(
            &m,
            "regwatch_trunk_up",
            &[("trunk", "wrongpw"), ("cause", "credentials_rejected")]
        )
        .as_deref()
            == Some("0"),
        "{m}"
    );
    assert!(!m.contains(WRONG));
    for l in m
        .lines()
        .filter(|l| l.starts_with("regwatch_") && l.contains("wrongpw"))
    {
        println!("{l}");
    }
    // The next query (5 s later) gets the same answer: no second alert.
    std::thread::sleep(Duration::from_secs(6));
    let seen = w.stop();
    let alerts = seen.iter().filter(|v| v["event"] == "alert_raised").count();
    assert_eq!(alerts, 1, "{seen:?}");
    check_events(&seen, &[WRONG]);
    // Kamailio saw the queries: no Contact, the second of each with
    // credentials, each refused with 403; nothing saved.
    let log = reg.log();
    let queries = log
        .lines()
        .filter(|l| l.contains("REGISTER from") && l.contains("credentials: yes"))
        .count();
    assert!((2..=4).contains(&queries), "{queries} queries:\n{log}");
    assert!(!log.contains("saved"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIPp registers `user` with Contact `sip:<user>@127.0.0.1:<port>`.
fn sipp_register(reg_port: u16, user: &str, password: &str, port: u16, dir: &Path) {
    let inf = dir.join("users.csv");
    std::fs::write(&inf, format!("SEQUENTIAL\n{DOMAIN};{user};600\n")).unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/register.xml");
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{reg_port}"))
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&inf)
        .args(["-au", user, "-ap", password])
        .args(["-m", "1", "-i", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-nostdin", "-timeout", "10"])
        .current_dir(dir)
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn sipp_available() -> bool {
    let ok = Path::new("/usr/bin/sipp").exists();
    if !ok {
        if std::env::var("REGWATCH_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("sipp is not installed (scripts/install-deps.sh installs it)");
        }
        eprintln!("skipped: sipp is not installed");
    }
    ok
}

#[test]
fn a_registrar_restart_raises_binding_missing_for_the_sipp_contact() {
    if !registrar::available() || !sipp_available() {
        return;
    }
    let (user, password) = USERS[1];
    let mut reg = Registrar::start(false);
    let port = reg.port;
    let metrics_port = registrar::free_port();
    let sipp_port = registrar::free_port();
    let dir = temp_dir("watch-query-binding");
    sipp_register(port, user, password, sipp_port, &dir);
    let contact = format!("sip:{user}@127.0.0.1:{sipp_port}");
    let config = dir.join("trunks.toml");
    std::fs::write(
        &config,
        format!(
            "[[trunk]]\nname = \"pbx\"\ndomain = \"{DOMAIN}\"\nusername = \"{user}\"\npassword = \"{password}\"\nproxy = \"127.0.0.1:{port}\"\ntransport = \"udp\"\ncontact = \"{contact}\"\nregister_interval = 5\n"
        ),
    )
    .unwrap();
    // The engine's default is 600 s: the trunk's own 5 s wins.
    let mut w = Watch::start(&config, metrics_port, "600");
    // The first query finds the binding SIPp made.
    let mut m = String::new();
    let present = (0..80).any(|_| {
        m = get_metrics(metrics_port);
        let ok = metric(&m, "regwatch_trunk_binding_present", "pbx").as_deref() == Some("1");
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(present, "{m}");
    assert!(
        metric(&m, "regwatch_trunk_credentials_ok", "pbx").as_deref() == Some("1"),
        "{m}"
    );
    assert!(
        w.wait(Duration::from_millis(500), |v| v["event"] == "alert_raised")
            .is_none(),
        "no alert while the binding is there: {:?}",
        w.seen
    );
    // Kamailio restarts (usrloc in memory: every binding lost). OPTIONS
    // are answered again at once; the next query finds no binding.
    drop(reg);
    reg = Registrar::start_on(port, false);
    let restarted = Instant::now();
    let alert = w.wait(Duration::from_secs(15), |v| {
        v["event"] == "alert_raised" && v["cause"] == "binding_missing"
    });
    let alert = alert.unwrap_or_else(|| panic!("no binding_missing: {:?}", w.seen));
    println!(
        "binding_missing {} ms after the restart",
        restarted.elapsed().as_millis()
    );
    assert_eq!(alert["trunk"], "pbx");
    assert!(
        alert["summary"].as_str().unwrap().contains(&contact),
        "{alert}"
    );
    let m = get_metrics(metrics_port);
    assert!(
        metric(&m, "regwatch_trunk_binding_present", "pbx").as_deref() == Some("0"),
        "{m}"
    );
    assert!(
        metric(&m, "regwatch_trunk_credentials_ok", "pbx").as_deref() == Some("1"),
        "{m}"
    );
    assert_eq!(
        metric(&m, "regwatch_keepalive_failures_in_row", "pbx").as_deref(),
        Some("0"),
        "{m}"
    );
    // SIPp registers again: the next query clears it.
    sipp_register(port, user, password, sipp_port, &dir);
    let cleared = w.wait(Duration::from_secs(10), |v| {
        v["event"] == "alert_cleared" && v["cause"] == "binding_missing"
    });
    assert!(cleared.is_some(), "{:?}", w.seen);
    let seen = w.stop();
    check_events(&seen, &[password]);
    // The queries (no Contact) saved nothing: the restarted Kamailio
    // logged one binding change, SIPp's.
    let log = reg.log();
    let saves = log
        .lines()
        .filter(|l| l.contains("saved (expires 600)"))
        .count();
    assert_eq!(saves, 1, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
