//! `regwatch watch --config FILE`: keep-alive monitoring of every trunk in
//! a file, plus a credential query per trunk every `--register-interval`
//! seconds (a REGISTER without Contact, see `core/engine/credq.rs`), with
//! state changes printed as they happen (JSON events stamped with an RFC
//! 3339 `time`), an alert command, a Prometheus endpoint
//! (`watch_metrics.rs`), SIGHUP reload and clean SIGINT/SIGTERM.
use super::files;
use super::metrics_http::{self, Limits, Stats};
use super::term::Style;
use super::timestamp::now_rfc3339;
use super::watch_metrics::{default_host, metrics, self_metrics};
use regwatch::core::{terminal_safe, terminal_safe_block};
use regwatch::driver::{Runner, RunnerConfig};
use regwatch::{EngineConfig, Event, Output, TrunkConfig};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// The `host` label of every trunk's metrics: the PBX or machine these
    /// trunks belong to (default: this machine's host name; "" for none).
    #[arg(long, value_name = "NAME")]
    metrics_host: Option<String>,
    /// Run this command (through `sh -c`) on every alert raised or
    /// cleared: the alert as JSON on its standard input, and
    /// REGWATCH_EVENT, REGWATCH_TRUNK, REGWATCH_CAUSE, REGWATCH_STATE,
    /// REGWATCH_SEVERITY, REGWATCH_SUMMARY in its environment.
    #[arg(long, value_name = "CMD")]
    on_alert: Option<String>,
    /// Seconds an --on-alert command may run; past them it is killed
    /// (with what it started) and counted, and the next alert goes on.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    on_alert_timeout: u64,
    /// Keep-alive interval in seconds (default 60; a trunk's own
    /// `keepalive_interval` wins).
    #[arg(long)]
    interval: Option<u64>,
    /// Seconds between credential queries per trunk: a REGISTER without
    /// Contact (it adds no binding) answered with the trunk's
    /// credentials, raising credentials_rejected, account_forbidden,
    /// domain_not_found, and binding_missing when the trunk's `contact`
    /// is not among the bindings the registrar lists. 0: off; a trunk's
    /// own `register_interval` wins.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    register_interval: u32,
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

/// Makes room for the endpoint's connections in the open-file limit: the
/// soft limit is raised (within the hard one) to the connection cap plus
/// `reserve` for everything else (the runner's sockets, files, pipes).
/// Where the hard limit is lower, the cap is lowered to fit, so that
/// clients past it get a 503 at once instead of waiting in the listen
/// queue for a descriptor.
fn fit_open_file_limit(mut limits: Limits, reserve: usize) -> Limits {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given, a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return limits;
    }
    let want = (limits.max_conns + reserve) as libc::rlim_t;
    if rl.rlim_cur != libc::RLIM_INFINITY && rl.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want.min(rl.rlim_max),
            rlim_max: rl.rlim_max,
        };
        // SAFETY: setrlimit reads the rlimit it is given, a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            rl.rlim_cur = raised.rlim_cur;
        }
    }
    if rl.rlim_cur != libc::RLIM_INFINITY {
        let room = usize::try_from(rl.rlim_cur)
            .unwrap_or(usize::MAX)
            .saturating_sub(reserve)
            .max(8);
        if room < limits.max_conns {
            eprintln!(
                "regwatch watch: --metrics: the open-file limit ({}) leaves room for {room} connections, not {}",
                rl.rlim_cur, limits.max_conns
            );
            limits.max_conns = room;
        }
    }
    limits
}

/// Alerts waiting for the `--on-alert` command at most; past this they are
/// dropped, counted and logged.
pub(super) const ALERT_QUEUE: usize = 64;

/// The `--on-alert` command, run by one worker thread, one alert at a
/// time and in the order they happened (a clear never overtakes its
/// raise), from a queue of at most [`ALERT_QUEUE`].
/// What became of alerts that did not run to the end.
#[derive(Default)]
pub(super) struct AlertCounts {
    /// Not queued: the queue was full or its worker gone.
    pub(super) dropped: AtomicU64,
    /// Commands killed at the timeout.
    pub(super) timed_out: AtomicU64,
}

struct AlertQueue {
    tx: mpsc::SyncSender<Alert>,
    counts: Arc<AlertCounts>,
    /// `dropped` when the current run of drops began, if one is going on.
    dropping_since: Option<u64>,
    worker_gone: bool,
}

impl AlertQueue {
    fn start(
        cmd: String,
        timeout: Duration,
        counts: Arc<AlertCounts>,
    ) -> std::io::Result<AlertQueue> {
        let (tx, rx) = mpsc::sync_channel::<Alert>(ALERT_QUEUE);
        let c = counts.clone();
        std::thread::Builder::new()
            .name("regwatch-on-alert".to_owned())
            .spawn(move || {
                for a in rx {
                    if run_alert(&cmd, &a, timeout) == Ran::TimedOut {
                        c.timed_out.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })?;
        Ok(AlertQueue {
            tx,
            counts,
            dropping_since: None,
            worker_gone: false,
        })
    }

    fn submit(&mut self, a: Alert) {
        match self.tx.try_send(a) {
            Ok(()) => {
                if let Some(since) = self.dropping_since.take() {
                    let total = self.counts.dropped.load(Ordering::Relaxed);
                    eprintln!(
                        "regwatch watch: --on-alert: caught up; {} alert(s) were dropped ({total} since start)",
                        total - since
                    );
                }
            }
            Err(mpsc::TrySendError::Full(a)) => {
                let before = self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                if self.dropping_since.is_none() {
                    self.dropping_since = Some(before);
                    eprintln!(
                        "regwatch watch: --on-alert: {ALERT_QUEUE} alerts already wait for the command; dropping alerts until it catches up (first dropped: {} {})",
                        a.env.first().map_or("", |e| e.1.as_str()),
                        a.env.get(1).map_or(String::new(), |e| terminal_safe(&e.1).into_owned()),
                    );
                }
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.worker_gone {
                    self.worker_gone = true;
                    eprintln!("regwatch watch: --on-alert: the command's worker has stopped; alerts are dropped");
                }
            }
        }
    }
}

#[derive(PartialEq)]
enum Ran {
    Done,
    TimedOut,
}

/// Runs one alert command to its end or to `timeout`, whichever comes
/// first. The command runs in a process group of its own, so that at the
/// timeout what it started (a `sleep`, a `curl`) is killed with it.
fn run_alert(cmd: &str, a: &Alert, timeout: Duration) -> Ran {
    use std::os::unix::process::CommandExt;
    let child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(a.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut c = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("regwatch watch: --on-alert: {e}");
            return Ran::Done;
        }
    };
    let deadline = std::time::Instant::now() + timeout;
    if let Some(mut i) = c.stdin.take() {
        // The JSON is a few hundred bytes: it fits in the pipe, so this
        // does not block on a command that never reads it.
        let _ = i.write_all(a.payload.as_bytes());
    }
    loop {
        match c.try_wait() {
            Ok(Some(_)) | Err(_) => return Ran::Done,
            Ok(None) if std::time::Instant::now() >= deadline => break,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    if let Ok(pgid) = libc::pid_t::try_from(c.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group
        // the child leads (process_group(0) above); no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let _ = c.wait();
    eprintln!(
        "regwatch watch: --on-alert: the command ran past {} s for {} {}; it was killed",
        timeout.as_secs(),
        a.env.first().map_or("", |e| e.1.as_str()),
        a.env
            .get(1)
            .map_or(String::new(), |e| terminal_safe(&e.1).into_owned()),
    );
    Ran::TimedOut
}

pub fn run(a: &Args) -> u8 {
    let trunks = match load(&a.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("regwatch watch: {}", terminal_safe_block(&e));
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
    if ec
        .set("register_interval", &a.register_interval.to_string())
        .is_err()
    {
        eprintln!(
            "regwatch watch: --register-interval must be 0 (off) or between 5 and 604800 seconds"
        );
        return 2;
    }
    let (tx, rx) = mpsc::channel::<Msg>();
    let alerts_on = a.on_alert.is_some();
    let callback = Box::new(move |engine: &regwatch::Engine, o: &Output| {
        let Output::Event(e) = o else {
            if let Output::Action(regwatch::Action::ReRegister { name, .. }) = o {
                let _ = tx.send(Msg::Event(
                    json!({"time": now_rfc3339(), "event": "re_register", "trunk": &**name}),
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
        let mut line = line;
        line["time"] = json!(now_rfc3339());
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
                    eprintln!(
                        "regwatch watch: trunk {}: {}",
                        terminal_safe(n),
                        terminal_safe_block(&e.to_string())
                    );
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
    let http_stats = Arc::new(Stats::default());
    let alert_counts = Arc::new(AlertCounts::default());
    let metrics_server = match a.metrics {
        Some(addr) => {
            let (r, n) = (runner.clone(), names.clone());
            let (hs, ac) = (http_stats.clone(), alert_counts.clone());
            let host = a.metrics_host.clone().unwrap_or_else(default_host);
            let render = Box::new(move || {
                let list = n.lock().map(|n| n.clone()).unwrap_or_default();
                let mut body = metrics(&r, &list, &host);
                body.push_str(&self_metrics(&hs, &ac, r.connections_dropped()));
                body
            });
            let limits = fit_open_file_limit(Limits::default(), 128 + 2 * current.len());
            match metrics_http::Server::start(addr, limits, http_stats, render) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("regwatch watch: --metrics {addr}: {e}");
                    return 2;
                }
            }
        }
        None => None,
    };
    let mut alert_queue = match &a.on_alert {
        Some(cmd) => match AlertQueue::start(
            cmd.clone(),
            Duration::from_secs(a.on_alert_timeout),
            alert_counts,
        ) {
            Ok(q) => Some(q),
            Err(e) => {
                eprintln!("regwatch watch: --on-alert: {e}");
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
            terminal_safe(&a.config.display().to_string())
        );
    }
    while !stop.load(Ordering::Relaxed) {
        if hup.swap(0, Ordering::Relaxed) != 0 {
            match load(&a.config) {
                Ok(t) => {
                    apply(t, &mut current);
                    if !a.json {
                        println!(
                            "reloaded {}: {} trunks",
                            terminal_safe(&a.config.display().to_string()),
                            current.len()
                        );
                    }
                }
                Err(e) => {
                    eprintln!(
                        "regwatch watch: reload: {} (keeping the trunks as they were)",
                        terminal_safe_block(&e)
                    )
                }
            }
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Msg::Event(line, alert)) => {
                if a.json {
                    println!("{line}");
                } else {
                    // Names and findings come from the file, summaries
                    // quote the registrar: shown without control characters.
                    let f = |v: &serde_json::Value| {
                        terminal_safe(v.as_str().unwrap_or("")).into_owned()
                    };
                    let t = f(&line["trunk"]);
                    match line["event"].as_str().unwrap_or("") {
                        "state_changed" => println!(
                            "{t}: {} -> {} ({})",
                            f(&line["from"]),
                            f(&line["to"]),
                            f(&line["cause"])
                        ),
                        "alert_raised" => {
                            println!("{} {t}: {}", st.bad("ALERT"), f(&line["summary"]))
                        }
                        "alert_cleared" => {
                            println!("{} {t} ({})", st.good("cleared"), f(&line["cause"]))
                        }
                        "re_register" => {
                            println!("{t}: the registrar answers again: re-register now")
                        }
                        "finding" => println!(
                            "{t}: [{}] {}",
                            f(&line["finding"]["code"]),
                            f(&line["finding"]["message"])
                        ),
                        _ => {}
                    }
                }
                let _ = std::io::stdout().flush();
                if let (Some(q), Some(al)) = (alert_queue.as_mut(), alert) {
                    q.submit(al);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // The endpoint is woken and closes every connection at once, however
    // many clients hold one; a running --on-alert command is not waited for.
    if let Some(s) = metrics_server {
        s.stop();
    }
    if let Ok(r) = Arc::try_unwrap(runner) {
        r.stop();
    }
    0
}
