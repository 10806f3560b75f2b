//! `regwatch watch` for real: against the project's Kamailio, with the
//! Prometheus endpoint read over HTTP, an --on-alert command that records
//! what it gets, a SIGHUP reload and a SIGTERM stop. No password may
//! appear in the output, the metrics or the alert payload.
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::prom;
use support::registrar::{self, Registrar, DOMAIN};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");
const PASSWORD: &str = "Alice-Passw0rd-1";

fn get_metrics(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn trunks(reg_port: u16, dead_port: u16, with_dead: bool) -> String {
    let mut t = format!(
        "[[trunk]]\nname = \"good\"\ndomain = \"{DOMAIN}\"\nusername = \"alice\"\npassword = \"{PASSWORD}\"\nproxy = \"127.0.0.1:{reg_port}\"\ntransport = \"udp\"\n"
    );
    if with_dead {
        t.push_str(&format!(
            "[[trunk]]\nname = \"dead\"\ndomain = \"{DOMAIN}\"\nusername = \"alice\"\npassword = \"{PASSWORD}\"\nproxy = \"127.0.0.1:{dead_port}\"\ntransport = \"udp\"\n"
        ));
    }
    t
}

fn wait_for(mut f: impl FnMut() -> bool, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn watch_with_metrics_alerts_reload_and_stop() {
    if !registrar::available() {
        return;
    }
    let reg = Registrar::start(false);
    let dead_port = registrar::free_port();
    let metrics_port = registrar::free_port();
    let dir = std::env::temp_dir().join(format!("regwatch-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("trunks.toml");
    std::fs::write(&config, trunks(reg.port, dead_port, true)).unwrap();
    let alert_cmd = format!(
        "cat > {d}/alert-$REGWATCH_TRUNK-$REGWATCH_EVENT.json; env | grep ^REGWATCH_ | sort > {d}/alert-$REGWATCH_TRUNK-$REGWATCH_EVENT.env",
        d = dir.display()
    );
    let mut child = Command::new(BIN)
        .args(["watch", "--config"])
        .arg(&config)
        .args([
            "--interval",
            "1",
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
            "--on-alert",
            &alert_cmd,
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The dead trunk's alert reaches the command, JSON on stdin and env.
    let env_file = dir.join("alert-dead-alert_raised.env");
    assert!(
        wait_for(|| env_file.exists(), 10),
        "no alert for the dead trunk"
    );
    std::thread::sleep(Duration::from_millis(300));
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("REGWATCH_CAUSE=connection_refused"), "{env}");
    assert!(env.contains("REGWATCH_TRUNK=dead"), "{env}");
    let payload = std::fs::read_to_string(dir.join("alert-dead-alert_raised.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["cause"], "connection_refused");
    assert!(
        v["summary"].as_str().unwrap().contains("refused"),
        "{payload}"
    );

    // Metrics over HTTP.
    let mut m = String::new();
    assert!(
        wait_for(
            || {
                m = get_metrics(metrics_port);
                prom::sample(&m, "regwatch_keepalive_rtt_seconds", &[("trunk", "good")]).is_some()
            },
            10
        ),
        "{m}"
    );
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    assert!(m.contains("regwatch_trunk_up{trunk=\"good\""), "{m}");
    let up = [("trunk", "dead"), ("cause", "connection_refused")];
    assert_eq!(
        prom::sample(&m, "regwatch_trunk_up", &up).as_deref(),
        Some("0"),
        "{m}"
    );
    assert_eq!(
        prom::sample(&m, "regwatch_last_status_code", &[("trunk", "good")]).as_deref(),
        Some("200"),
        "{m}"
    );
    assert!(
        prom::sample(
            &m,
            "regwatch_keepalive_failures_in_row",
            &[("trunk", "dead")]
        )
        .is_some(),
        "{m}"
    );
    assert!(!m.contains(PASSWORD));

    // SIGHUP after removing the dead trunk: it leaves the metrics.
    std::fs::write(&config, trunks(reg.port, dead_port, false)).unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(
        wait_for(|| !get_metrics(metrics_port).contains("trunk=\"dead\""), 5),
        "dead trunk still in the metrics after SIGHUP"
    );

    // SIGTERM: a clean stop, exit 0.
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "watch did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(out.contains("watching 2 trunks"), "{out}");
    assert!(out.contains("ALERT dead:"), "{out}");
    assert!(out.contains("reloaded"), "{out}");
    for text in [&out, &err, &payload, &env] {
        assert!(!text.contains(PASSWORD), "password in output:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
