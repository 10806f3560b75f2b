//! `regwatch watch --config FILE`: keep-alive monitoring of every trunk in
//! a file, with state changes printed as they happen, an alert command, a
//! Prometheus endpoint, SIGHUP reload and clean SIGINT/SIGTERM.
use super::files;
use super::term::Style;
use regwatch::driver::{Runner, RunnerConfig};
use regwatch::{EngineConfig, Event, Output, RegState, TrunkConfig};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trunks: a regwatch trunk file, a pjsip.conf or sofia gateway XML.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: Option<SocketAddr>,
    /// Run this command (through `sh -c`) on every alert raised or
    /// cleared: the alert as JSON on its standard input, and
    /// REGWATCH_EVENT, REGWATCH_TRUNK, REGWATCH_CAUSE, REGWATCH_STATE,
    /// REGWATCH_SEVERITY, REGWATCH_SUMMARY in its environment.
    #[arg(long, value_name = "CMD")]
    on_alert: Option<String>,
    /// Keep-alive interval in seconds (default 60; a trunk's own
    /// `keepalive_interval` wins).
    #[arg(long)]
    interval: Option<u64>,
    /// PEM CAs to trust for TLS instead of the system's store.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The DNS server to ask.
    #[arg(long, value_name = "IP:PORT")]
    nameserver: Option<SocketAddr>,
    /// Print events as JSON lines.
    #[arg(long)]
    json: bool,
}

enum Msg {
    Event(serde_json::Value, Option<Alert>),
}

struct Alert {
    env: Vec<(&'static str, String)>,
    payload: String,
}

fn load(path: &std::path::Path) -> Result<Vec<TrunkConfig>, String> {
    let loaded = files::load(path, None)?;
    // What the include expansion skipped (a missing #include, a cycle...).
    for n in &loaded.notes {
        eprintln!(
            "regwatch watch: {} {} {}",
            n.severity,
            n.code,
            regwatch::core::terminal_safe(&n.message)
        );
    }
    Ok(files::trunks(&loaded, path, None)?
        .into_iter()
        .map(|t| t.config)
        .collect())
}

/// Prometheus text for the trunks the runner knows.
fn metrics(runner: &Runner, names: &[String]) -> String {
    let mut out = String::new();
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    out.push_str("# HELP regwatch_trunk_up 1 when the trunk is registered (or not registering) and its registrar answers.\n# TYPE regwatch_trunk_up gauge\n");
    let mut rows = Vec::new();
    for n in names {
        if let Ok(Some((s, d))) = runner.snapshot(n) {
            rows.push((s, d));
        }
    }
    for (s, d) in &rows {
        let up = !s.alerting
            && !matches!(
                s.state,
                RegState::Rejected | RegState::Unreachable | RegState::Expired | RegState::Stopped
            );
        out.push_str(&format!(
            "regwatch_trunk_up{{trunk=\"{}\",cause=\"{}\"}} {}\n",
            esc(&s.name),
            d.cause.as_str(),
            u8::from(up)
        ));
    }
    out.push_str("# HELP regwatch_trunk_state The trunk's registration state (1 for the current one).\n# TYPE regwatch_trunk_state gauge\n");
    for (s, d) in &rows {
        out.push_str(&format!(
            "regwatch_trunk_state{{trunk=\"{}\",state=\"{}\",cause=\"{}\"}} 1\n",
            esc(&s.name),
            s.state.as_str(),
            d.cause.as_str()
        ));
    }
    out.push_str("# HELP regwatch_last_status_code The last SIP status code answered to a keep-alive or REGISTER (0: none).\n# TYPE regwatch_last_status_code gauge\n");
    for (s, _) in &rows {
        let code = s.keepalive.last_code.or(s.last_code).unwrap_or(0);
        out.push_str(&format!(
            "regwatch_last_status_code{{trunk=\"{}\"}} {code}\n",
            esc(&s.name)
        ));
    }
    out.push_str("# HELP regwatch_keepalive_failures_in_row OPTIONS keep-alives failed in a row.\n# TYPE regwatch_keepalive_failures_in_row gauge\n");
    for (s, _) in &rows {
        out.push_str(&format!(
            "regwatch_keepalive_failures_in_row{{trunk=\"{}\"}} {}\n",
            esc(&s.name),
            s.keepalive.failures_in_row
        ));
    }
    out.push_str("# HELP regwatch_keepalive_rtt_seconds Keep-alive round trip (EWMA).\n# TYPE regwatch_keepalive_rtt_seconds gauge\n");
    for (s, _) in &rows {
        if s.keepalive.rtt.count > 0 {
            out.push_str(&format!(
                "regwatch_keepalive_rtt_seconds{{trunk=\"{}\"}} {:.6}\n",
                esc(&s.name),
                s.keepalive.rtt.ewma_us as f64 / 1e6
            ));
        }
    }
    out.push_str("# HELP regwatch_granted_expires_seconds The expiry the registrar granted last.\n# TYPE regwatch_granted_expires_seconds gauge\n");
    for (s, _) in &rows {
        if let Some(g) = s.granted_expires {
            out.push_str(&format!(
                "regwatch_granted_expires_seconds{{trunk=\"{}\"}} {g}\n",
                esc(&s.name)
            ));
        }
    }
    out
}

/// A minimal HTTP/1.1 responder for GET /metrics, one connection at a time.
fn serve_metrics(
    listener: TcpListener,
    runner: Arc<Runner>,
    names: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::Relaxed) {
        let (stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(&stream);
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() {
            continue;
        }
        // Skip the headers.
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let mut w = &stream;
        let path = request.split_whitespace().nth(1).unwrap_or("");
        if request.starts_with("GET ") && (path == "/metrics" || path == "/") {
            let list = names.lock().map(|n| n.clone()).unwrap_or_default();
            let body = metrics(&runner, &list);
            let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        } else {
            let _ = write!(
                w,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

fn run_alert(cmd: &str, a: &Alert) {
    let child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(a.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .spawn();
    match child {
        Ok(mut c) => {
            if let Some(mut i) = c.stdin.take() {
                let _ = i.write_all(a.payload.as_bytes());
            }
            let _ = c.wait();
        }
        Err(e) => eprintln!("regwatch watch: --on-alert: {e}"),
    }
}

pub fn run(a: &Args) -> u8 {
    let trunks = match load(&a.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("regwatch watch: {e}");
            return 2;
        }
    };
    let mut ec = EngineConfig::default();
    if let Some(i) = a.interval {
        if ec
            .set("keepalive_interval_ms", &(i * 1000).to_string())
            .is_err()
        {
            eprintln!("regwatch watch: --interval must be between 1 and 86400 seconds");
            return 2;
        }
    }
    let (tx, rx) = mpsc::channel::<Msg>();
    let alerts_on = a.on_alert.is_some();
    let callback = Box::new(move |engine: &regwatch::Engine, o: &Output| {
        let Output::Event(e) = o else {
            if let Output::Action(regwatch::Action::ReRegister { name, .. }) = o {
                let _ = tx.send(Msg::Event(
                    json!({"event": "re_register", "trunk": &**name}),
                    None,
                ));
            }
            return;
        };
        let (kind, line) = match e {
            Event::StateChanged {
                name,
                from,
                to,
                cause,
                code,
                ..
            } => (
                "state_changed",
                json!({"event": "state_changed", "trunk": &**name, "from": from.as_str(), "to": to.as_str(), "cause": cause.as_str(), "code": code}),
            ),
            Event::AlertRaised {
                name,
                cause,
                severity,
                state,
                code,
                summary,
                trunk,
                ..
            } => {
                let d = engine.diagnose(*trunk).ok();
                (
                    "alert_raised",
                    json!({"event": "alert_raised", "trunk": &**name, "cause": cause.as_str(), "severity": severity, "state": state.as_str(), "code": code, "summary": summary,
                           "remediation": d.map(|d| d.remediation)}),
                )
            }
            Event::AlertCleared {
                name, cause, state, ..
            } => (
                "alert_cleared",
                json!({"event": "alert_cleared", "trunk": &**name, "cause": cause.as_str(), "state": state.as_str()}),
            ),
            Event::Finding { name, finding, .. } => (
                "finding",
                json!({"event": "finding", "trunk": &**name, "finding": finding}),
            ),
        };
        let alert = (alerts_on && kind.starts_with("alert_")).then(|| Alert {
            env: vec![
                ("REGWATCH_EVENT", kind.to_owned()),
                (
                    "REGWATCH_TRUNK",
                    line["trunk"].as_str().unwrap_or("").to_owned(),
                ),
                (
                    "REGWATCH_CAUSE",
                    line["cause"].as_str().unwrap_or("").to_owned(),
                ),
                (
                    "REGWATCH_STATE",
                    line["state"].as_str().unwrap_or("").to_owned(),
                ),
                (
                    "REGWATCH_SEVERITY",
                    line["severity"].as_str().unwrap_or("").to_owned(),
                ),
                (
                    "REGWATCH_SUMMARY",
                    line["summary"].as_str().unwrap_or("").to_owned(),
                ),
            ],
            payload: line.to_string(),
        });
        let _ = tx.send(Msg::Event(line, alert));
    });
    let runner = match Runner::start(
        RunnerConfig {
            engine: ec,
            ca_file: a.ca_file.clone(),
            nameserver: a.nameserver,
            ..RunnerConfig::default()
        },
        callback,
    ) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("regwatch watch: {e}");
            return 2;
        }
    };
    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let apply = |wanted: Vec<TrunkConfig>, current: &mut BTreeMap<String, TrunkConfig>| {
        let mut next = BTreeMap::new();
        for mut c in wanted {
            c.keepalive = Some(true);
            next.insert(c.name.to_string(), c);
        }
        for (n, old) in current.iter() {
            if next.get(n) != Some(old) {
                let _ = runner.remove_trunk(n);
            }
        }
        for (n, c) in &next {
            if current.get(n) != Some(c) {
                if let Err(e) = runner.add_trunk(c.clone()) {
                    eprintln!("regwatch watch: trunk {n}: {e}");
                }
            }
        }
        *current = next;
        if let Ok(mut l) = names.lock() {
            *l = current.keys().cloned().collect();
        }
    };
    let mut current = BTreeMap::new();
    apply(trunks, &mut current);
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let _ = signal_hook::flag::register_usize(SIGHUP, hup.clone(), 1);
    let metrics_thread = match a.metrics {
        Some(addr) => match TcpListener::bind(addr) {
            Ok(l) => {
                let (r, n, s) = (runner.clone(), names.clone(), stop.clone());
                Some(std::thread::spawn(move || serve_metrics(l, r, n, s)))
            }
            Err(e) => {
                eprintln!("regwatch watch: --metrics {addr}: {e}");
                return 2;
            }
        },
        None => None,
    };
    let st = Style::stdout();
    if !a.json {
        println!(
            "watching {} trunk{} from {}",
            current.len(),
            if current.len() == 1 { "" } else { "s" },
            a.config.display()
        );
    }
    while !stop.load(Ordering::Relaxed) {
        if hup.swap(0, Ordering::Relaxed) != 0 {
            match load(&a.config) {
                Ok(t) => {
                    apply(t, &mut current);
                    if !a.json {
                        println!("reloaded {}: {} trunks", a.config.display(), current.len());
                    }
                }
                Err(e) => {
                    eprintln!("regwatch watch: reload: {e} (keeping the trunks as they were)")
                }
            }
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Msg::Event(line, alert)) => {
                if a.json {
                    println!("{line}");
                } else {
                    let t = line["trunk"].as_str().unwrap_or("");
                    match line["event"].as_str().unwrap_or("") {
                        "state_changed" => println!(
                            "{t}: {} -> {} ({})",
                            line["from"].as_str().unwrap_or(""),
                            line["to"].as_str().unwrap_or(""),
                            line["cause"].as_str().unwrap_or("")
                        ),
                        "alert_raised" => println!(
                            "{} {t}: {}",
                            st.bad("ALERT"),
                            line["summary"].as_str().unwrap_or("")
                        ),
                        "alert_cleared" => println!(
                            "{} {t} ({})",
                            st.good("cleared"),
                            line["cause"].as_str().unwrap_or("")
                        ),
                        "re_register" => {
                            println!("{t}: the registrar answers again: re-register now")
                        }
                        "finding" => println!(
                            "{t}: [{}] {}",
                            line["finding"]["code"].as_str().unwrap_or(""),
                            line["finding"]["message"].as_str().unwrap_or("")
                        ),
                        _ => {}
                    }
                }
                let _ = std::io::stdout().flush();
                if let (Some(cmd), Some(al)) = (&a.on_alert, alert) {
                    let cmd = cmd.clone();
                    std::thread::spawn(move || run_alert(&cmd, &al));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = metrics_thread {
        let _ = t.join();
    }
    if let Ok(r) = Arc::try_unwrap(runner) {
        r.stop();
    }
    0
}
