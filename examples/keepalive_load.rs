//! Load for the keep-alive runner: N trunks probed every `interval` ms at
//! one registrar, for `seconds`; prints probes answered and failed, alerts
//! raised, and the CPU time this process used (user + system, from
//! /proc/self/stat). Used by scripts/bench-keepalive.sh.
//!
//!     cargo run --release --example keepalive_load -- 127.0.0.1:5060 20000 1000 60
use regwatch::driver::{Runner, RunnerConfig};
use regwatch::{EngineConfig, Event, Output, TrunkConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// User + system CPU seconds of this process (Linux; clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        eprintln!("usage: keepalive_load HOST:PORT TRUNKS INTERVAL_MS SECONDS");
        std::process::exit(2);
    }
    let target = &args[0];
    let trunks: usize = args[1].parse().expect("TRUNKS");
    let interval: u64 = args[2].parse().expect("INTERVAL_MS");
    let seconds: u64 = args[3].parse().expect("SECONDS");
    let mut ec = EngineConfig::default();
    ec.set("keepalive_interval_ms", &interval.to_string())
        .unwrap();
    let alerts = Arc::new(AtomicU64::new(0));
    let a = alerts.clone();
    let runner = Runner::start(
        RunnerConfig {
            engine: ec,
            ..RunnerConfig::default()
        },
        Box::new(move |_, o| {
            if let Output::Event(Event::AlertRaised { cause, name, .. }) = o {
                if a.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("first alert: {name}: {cause}");
                }
            }
        }),
    )
    .expect("runner starts");
    for i in 0..trunks {
        let mut c = TrunkConfig::new(&format!("t{i}"));
        c.set("domain", "acme.sip.twilio.com").unwrap();
        c.set("username", &format!("u{i}")).unwrap();
        c.set("password", "Load-Test-Passw0rd").unwrap();
        c.set("proxy", target).unwrap();
        runner.add_trunk(c).unwrap();
    }
    // The first interval spreads the first probes; measure after it.
    std::thread::sleep(Duration::from_millis(interval));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let count = |r: &Runner| {
        let (mut sent, mut failed, mut rtt_sum, mut rtt_n) = (0u64, 0u64, 0u64, 0u64);
        for i in 0..trunks {
            if let Ok(Some((s, _))) = r.snapshot(&format!("t{i}")) {
                sent += s.keepalive.sent;
                failed += s.keepalive.failed;
                rtt_sum += s.keepalive.rtt.avg_us * s.keepalive.rtt.count;
                rtt_n += s.keepalive.rtt.count;
            }
        }
        (sent, failed, rtt_sum.checked_div(rtt_n).unwrap_or(0))
    };
    let (sent0, failed0, _) = count(&runner);
    let cpu_count = cpu_seconds() - cpu0;
    std::thread::sleep(Duration::from_secs(seconds));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0 - cpu_count;
    let (sent1, failed1, rtt) = count(&runner);
    let sent = sent1 - sent0;
    let failed = failed1 - failed0;
    println!(
        "regwatch: {trunks} trunks every {interval} ms for {wall:.0} s: {sent} probes ({:.0}/s), {failed} failed, {} alerts, mean RTT {:.2} ms, CPU {cpu:.2} s = {:.1} % of one core",
        sent as f64 / wall,
        alerts.load(Ordering::Relaxed),
        rtt as f64 / 1000.0,
        100.0 * cpu / wall
    );
    runner.stop();
}
