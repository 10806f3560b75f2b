//! `regwatch watch` against hostile clients and hostile text, with no
//! registrar to set up: the trunks point at closed loopback ports or at a
//! fake registrar written here, since only the metrics endpoint, the
//! `--on-alert` queue and the printed text matter. The acceptance figures
//! (scrape times under 1,000 clients, SIGTERM time) come from
//! scripts/hostile-metrics.py; these tests check the behaviour.
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_regwatch");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regwatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` trunks, all at `127.0.0.1:port` over UDP.
fn trunk_file(dir: &Path, names: &[String], port: u16) -> PathBuf {
    let mut t = String::new();
    for n in names {
        t.push_str(&format!(
            "[[trunk]]\nname = \"{n}\"\ndomain = \"pbx.example.net\"\nusername = \"office\"\npassword = \"Hostile-Peer-1\"\nproxy = \"127.0.0.1:{port}\"\ntransport = \"udp\"\n"
        ));
    }
    let p = dir.join("trunks.toml");
    std::fs::write(&p, t).unwrap();
    p
}

/// A `regwatch watch` child, killed if a test fails before it ends.
struct Watch(Child);

impl std::ops::Deref for Watch {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Watch {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn watch(config: &Path, extra: &[&str]) -> Watch {
    Watch(
        Command::new(BIN)
            .args(["watch", "--config"])
            .arg(config)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// The child's resident set size in KiB (VmRSS from /proc).
fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn get(port: u16, timeout: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
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

fn ready(port: u16) {
    assert!(
        wait_for(
            || get(port, Duration::from_secs(2)).is_ok_and(|m| m.starts_with("HTTP/1.1 200")),
            20
        ),
        "the metrics endpoint never answered"
    );
}

fn sigterm(child: &Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// Waits up to `secs` for the child to exit; kills it past that.
fn exited_within(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn output(child: &mut Child) -> (String, String) {
    let mut out = String::new();
    let mut err = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    (out, err)
}

/// One client sending header bytes without a newline: the server drops
/// it after a few KiB instead of buffering without end (before: it read
/// all it got, 13 GB in 20 s), and a head just over the limit is answered
/// 431.
#[test]
fn metrics_request_head_is_bounded() {
    let dir = temp_dir("watch-head");
    let config = trunk_file(&dir, &["office".to_owned()], free_port());
    let port = free_port();
    let mut child = watch(&config, &["--metrics", &format!("127.0.0.1:{port}")]);
    ready(port);
    let base = rss_kib(child.id());

    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Flood: ").unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let limit = 256 * 1024 * 1024;
    let mut sent = 0usize;
    let mut peak = base;
    while sent < limit {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
        if sent % (4 * 1024 * 1024) < chunk.len() {
            peak = peak.max(rss_kib(child.id()));
        }
    }
    peak = peak.max(rss_kib(child.id()));
    drop(s);
    let growth_mb = (peak - base) as f64 / 1024.0;
    assert!(
        sent < 32 * 1024 * 1024,
        "the server took {sent} bytes of one header line without dropping the client (RSS +{growth_mb:.0} MB)"
    );
    assert!(growth_mb < 64.0, "RSS grew by {growth_mb:.1} MB");

    // 9 KiB of head, all of it read by the server: the answer is 431.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    s.write_all(&[b'X'; 9 * 1024]).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
    let m = get(port, Duration::from_secs(5)).unwrap();
    assert!(
        m.contains("regwatch_metrics_connections_dropped_total{reason=\"header_too_large\"} 2"),
        "{m}"
    );

    sigterm(&child);
    assert_eq!(
        exited_within(&mut child, 10).and_then(|s| s.code()),
        Some(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A slowloris (a header byte every second) and idle clients do not hold
/// up a scrape, the slowloris is dropped at its deadline, and SIGTERM ends
/// the process while such clients hold connections (before: the serial
/// server read the slowloris for as long as it trickled; SIGTERM waited
/// 29 s).
#[test]
fn metrics_answer_while_clients_hold_and_stop_at_once() {
    let dir = temp_dir("watch-hold");
    let config = trunk_file(&dir, &["office".to_owned()], free_port());
    let port = free_port();
    let mut child = watch(&config, &["--metrics", &format!("127.0.0.1:{port}")]);
    ready(port);

    let trickling = Arc::new(AtomicBool::new(true));
    let slowloris = |trickling: Arc<AtomicBool>| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
        let mut w = s.try_clone().unwrap();
        let t = std::thread::spawn(move || {
            while trickling.load(Ordering::Relaxed) && w.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        (s, t)
    };
    let (mut slow, slow_thread) = slowloris(trickling.clone());
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();

    let m = get(port, Duration::from_secs(10)).expect("no answer while clients hold connections");
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    assert!(m.contains("regwatch_trunk_up{trunk=\"office\""), "{m}");

    // The slowloris is answered 408 and closed at its deadline (5 s after
    // it connected), however it trickles.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = String::new();
    let _ = slow.read_to_string(&mut got);
    let held = started.elapsed();
    assert!(got.starts_with("HTTP/1.1 408 "), "{got:?} after {held:?}");
    assert!(held < Duration::from_secs(15), "held {held:?}");
    trickling.store(false, Ordering::Relaxed);
    slow_thread.join().unwrap();
    drop(idle);

    // SIGTERM while a new slowloris and new idle clients hold on.
    let trickling = Arc::new(AtomicBool::new(true));
    let (_slow, slow_thread) = slowloris(trickling.clone());
    let _idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&child);
    let status = exited_within(&mut child, 5);
    trickling.store(false, Ordering::Relaxed);
    slow_thread.join().unwrap();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "watch did not stop on SIGTERM while clients held connections"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Alerts for 100 unreachable trunks, with an --on-alert command that
/// does not finish: one command runs at a time, 64 alerts wait, the rest
/// are dropped, counted in a metric and said on stderr (before: one
/// thread and one process per alert, without limit).
#[test]
fn on_alert_runs_from_a_bounded_queue() {
    let dir = temp_dir("watch-alerts");
    let names: Vec<String> = (0..100).map(|i| format!("t{i:03}")).collect();
    let config = trunk_file(&dir, &names, free_port());
    let port = free_port();
    // `exec`: the sleep keeps the shell's pid, written down to end it.
    let cmd = format!(
        "echo $$ > {d}/pid-$REGWATCH_TRUNK; cat > {d}/ran-$REGWATCH_TRUNK.json; exec sleep 20",
        d = dir.display()
    );
    let mut child = watch(
        &config,
        &[
            "--interval",
            "1",
            "--metrics",
            &format!("127.0.0.1:{port}"),
            "--on-alert",
            &cmd,
        ],
    );
    ready(port);
    let mut m = String::new();
    assert!(
        wait_for(
            || {
                m = get(port, Duration::from_secs(5)).unwrap_or_default();
                m.lines()
                    .find_map(|l| l.strip_prefix("regwatch_alert_commands_dropped_total "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n >= 35)
            },
            60
        ),
        "no alert dropped:\n{m}"
    );
    // 100 alerts (or more): one command running, 64 waiting, the rest
    // dropped.
    let ran: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("ran-"))
        .collect();
    assert_eq!(ran.len(), 1, "commands started: {}", ran.len());
    // The alert JSON on stdin, as before.
    let payload = std::fs::read_to_string(ran[0].path()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["event"], "alert_raised", "{payload}");

    // SIGTERM does not wait for the running command. (That command is
    // ended here before reading the output: it holds watch's stdout and
    // stderr open.)
    sigterm(&child);
    let status = exited_within(&mut child, 5);
    let trunk = v["trunk"].as_str().unwrap();
    let pid = std::fs::read_to_string(dir.join(format!("pid-{trunk}"))).unwrap();
    let _ = Command::new("kill").arg(pid.trim()).status();
    let (_, err) = output(&mut child);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{err}");
    assert_eq!(
        err.matches("alerts already wait for the command; dropping alerts")
            .count(),
        1,
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An --on-alert command that never ends (and a child it started) is
/// killed at --on-alert-timeout, counted, said on stderr, and the next
/// alert runs: before, one such command held the worker for good and every
/// later alert was dropped.
#[test]
fn on_alert_command_is_killed_at_its_timeout() {
    let dir = temp_dir("watch-alert-timeout");
    let names: Vec<String> = (0..3).map(|i| format!("t{i}")).collect();
    let config = trunk_file(&dir, &names, free_port());
    let port = free_port();
    // The shell starts a sleep of its own (not exec'd): both must go.
    let cmd = format!(
        "cat > {d}/ran-$REGWATCH_TRUNK.json; sleep 300 & echo $! > {d}/child-$REGWATCH_TRUNK; wait",
        d = dir.display()
    );
    let mut child = watch(
        &config,
        &[
            "--interval",
            "1",
            "--metrics",
            &format!("127.0.0.1:{port}"),
            "--on-alert",
            &cmd,
            "--on-alert-timeout",
            "1",
        ],
    );
    ready(port);
    let mut m = String::new();
    assert!(
        wait_for(
            || {
                m = get(port, Duration::from_secs(5)).unwrap_or_default();
                m.lines()
                    .find_map(|l| l.strip_prefix("regwatch_alert_commands_timed_out_total "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n >= 3)
            },
            60
        ),
        "commands not timed out:\n{m}"
    );
    assert!(
        m.contains("regwatch_alert_commands_dropped_total 0\n"),
        "{m}"
    );
    assert!(
        m.contains("regwatch_peer_connections_dropped_total 0\n"),
        "{m}"
    );
    // Every trunk's alert ran (none stuck behind the first command), and
    // the sleeps they started are gone.
    for n in &names {
        assert!(
            dir.join(format!("ran-{n}.json")).exists(),
            "{n} did not run"
        );
        let pid = std::fs::read_to_string(dir.join(format!("child-{n}"))).unwrap();
        let gone = wait_for(
            || {
                std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                    .map_or(true, |st| st.contains(") Z "))
            },
            5,
        );
        assert!(
            gone,
            "the sleep of {n}'s command (pid {}) is still running",
            pid.trim()
        );
    }
    sigterm(&child);
    let status = exited_within(&mut child, 5);
    let (_, err) = output(&mut child);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{err}");
    assert!(err.contains("the command ran past 1 s for"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registrar answering with escape sequences in its reason phrase,
/// `Server` and `X-Twilio-Error`, and a trunk whose name in the file has
/// some: the text output carries none of them, the JSON keeps them
/// escaped.
#[test]
fn watch_text_has_no_control_characters() {
    let dir = temp_dir("watch-text");
    let reg = UdpSocket::bind("127.0.0.1:0").unwrap();
    let reg_port = reg.local_addr().unwrap().port();
    let answering = Arc::new(AtomicBool::new(true));
    let a = answering.clone();
    let registrar = std::thread::spawn(move || {
        reg.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 65536];
        while a.load(Ordering::Relaxed) {
            let Ok((n, from)) = reg.recv_from(&mut buf) else {
                continue;
            };
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let copied: Vec<&str> = req
                .split("\r\n")
                .filter(|l| {
                    let h = l.split(':').next().unwrap_or("").to_ascii_lowercase();
                    ["via", "from", "to", "call-id", "cseq"].contains(&h.as_str())
                })
                .collect();
            let resp = format!(
                "SIP/2.0 503 Bad\x1b[2J\x1b]0;owned\x07\u{9b}31mEnd\r\n{}\r\nServer: Evil\x1b[31mServer\r\nX-Twilio-Error: 32011 Tw\x1b[2Jerr\r\nContent-Length: 0\r\n\r\n",
                copied.join("\r\n")
            );
            let _ = reg.send_to(resp.as_bytes(), from);
        }
    });
    let name = "evil\\u001b[2Jname\\u009b31m\\u0007";
    let config = trunk_file(&dir, &[name.to_owned()], reg_port);
    let run = |json: bool| {
        let mut args = vec!["--interval", "1"];
        if json {
            args.push("--json");
        }
        let mut child = watch(&config, &args);
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut text = Vec::new();
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end
            && !String::from_utf8_lossy(&text).contains(if json { "alert_raised" } else { "ALERT" })
        {
            if let Ok(b) = rx.recv_timeout(Duration::from_millis(100)) {
                text.extend(b);
            }
        }
        sigterm(&child);
        let status = exited_within(&mut child, 10);
        while let Ok(b) = rx.recv_timeout(Duration::from_millis(500)) {
            text.extend(b);
        }
        assert_eq!(status.and_then(|s| s.code()), Some(0));
        String::from_utf8(text).unwrap()
    };
    let text = run(false);
    let json = run(true);
    answering.store(false, Ordering::Relaxed);
    registrar.join().unwrap();
    assert!(text.contains("ALERT evil[2Jname31m: "), "{text}");
    assert!(text.contains("(server_error)"), "{text}");
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "control characters {bad:?} in:\n{text}");

    // The JSON lines keep the name as the file gave it (escaped).
    let line = json
        .lines()
        .find(|l| l.contains("alert_raised"))
        .unwrap_or_else(|| panic!("{json}"));
    assert!(line.contains("evil\\u001b[2Jname"), "{line}");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["trunk"], "evil\x1b[2Jname\u{9b}31m\x07");
    let _ = std::fs::remove_dir_all(&dir);
}
