//! A fixed engine workload for instruction counts: 1,000 trunks through
//! 200 rounds of one minute each. Every round each trunk refreshes (a 401
//! challenge, then the REGISTER with credentials, 200 OK for 600 s) and
//! answers its OPTIONS keep-alives; some trunks get a 403, a timeout or a
//! 503 now and then, so failures, alerts and recoveries are in the mix.
//! The timers fire as the clock moves and every output is drained.
//!
//! It uses only the engine's public Rust API and reads no clock, so the
//! same run does the same work every time: compare two builds with
//!
//!     cargo build --release --example engine_workload
//!     valgrind --tool=cachegrind --cache-sim=no \
//!         target/release/examples/engine_workload
//!
//! and read `I refs`. It prints what it saw (outputs by kind), so two
//! builds can also be compared for the same behaviour. With
//! `ENGINE_WORKLOAD_FOLD=off` the history keeps every entry (the engine's
//! `history_fold` off), which shows what folding costs.
use regwatch::{
    Engine, EngineConfig, Observation, Output, ProbeResult, RegisterResponse, RegisterSent,
    TrunkConfig, TrunkId,
};

const TRUNKS: usize = 1_000;
const ROUNDS: u64 = 200;
const ROUND_MS: u64 = 60_000;

#[derive(Default)]
struct Seen {
    events: u64,
    actions: u64,
    probes: u64,
}

fn main() {
    let mut config = EngineConfig::default();
    if std::env::var("ENGINE_WORKLOAD_FOLD").is_ok_and(|v| v == "off") {
        config.set("history_fold", "off").expect("history_fold");
    }
    let mut engine = Engine::new(config, 0, 7);
    let mut ids: Vec<TrunkId> = Vec::with_capacity(TRUNKS);
    for i in 0..TRUNKS {
        let mut cfg = TrunkConfig::new(&format!("trunk-{i:04}"));
        let domain = format!("pbx{}.sip.twilio.com", i % 50);
        cfg.set("domain", &domain).expect("domain");
        cfg.set("username", &format!("user{i}")).expect("username");
        cfg.set("password", "Str0ngPassw0rdX").expect("password");
        cfg.set("expires", "600").expect("expires");
        ids.push(engine.add_trunk(0, cfg).expect("trunk"));
    }
    let mut seen = Seen::default();
    let mut pending: Vec<(TrunkId, u64)> = Vec::new();
    drain(&mut engine, &mut seen, &mut pending);

    for round in 0..ROUNDS {
        let base = round * ROUND_MS;
        for (i, &id) in ids.iter().enumerate() {
            // Spread the trunks over the first half of the round.
            let at = base + (i as u64 * 30_000) / TRUNKS as u64;
            refresh(&mut engine, id, at, outcome(round, i));
        }
        // Answer the keep-alives sent so far (some fail), then let the
        // clock run to the end of the round.
        answer(&mut engine, &mut pending, base + 31_000, round);
        let end = base + ROUND_MS;
        while let Some(t) = engine.poll_timeout() {
            if t > end {
                break;
            }
            engine.handle_timeout(t);
            drain(&mut engine, &mut seen, &mut pending);
            answer(&mut engine, &mut pending, t + 40, round);
        }
        drain(&mut engine, &mut seen, &mut pending);
    }
    println!(
        "trunks {TRUNKS}, rounds {ROUNDS}: events {}, actions {}, probes {}",
        seen.events, seen.actions, seen.probes
    );
}

#[derive(Clone, Copy)]
enum Outcome {
    Ok,
    Forbidden,
    Timeout,
    Unavailable,
}

/// Which trunks fail in which round: a fixed pattern.
fn outcome(round: u64, i: usize) -> Outcome {
    match (i % 97, round % 13) {
        (3, 4..=6) => Outcome::Forbidden,
        (11, 8..=9) => Outcome::Timeout,
        (29, 2) => Outcome::Unavailable,
        _ => Outcome::Ok,
    }
}

fn refresh(engine: &mut Engine, id: TrunkId, at: u64, outcome: Outcome) {
    let sent = |with_credentials| {
        Observation::RegisterSent(RegisterSent {
            expires: Some(600),
            with_credentials,
            ..Default::default()
        })
    };
    let response = |code, reason| {
        Observation::RegisterResponse(RegisterResponse {
            code,
            reason,
            granted_expires: (code == 200).then_some(600),
            contact_bound: (code == 200).then_some(true),
            ..Default::default()
        })
    };
    engine
        .handle_observation(at, id, sent(false))
        .expect("sent");
    engine
        .handle_observation(at + 20, id, response(401, "Unauthorized"))
        .expect("401");
    engine
        .handle_observation(at + 21, id, sent(true))
        .expect("sent");
    let last = match outcome {
        Outcome::Ok => response(200, "OK"),
        Outcome::Forbidden => response(403, "Forbidden"),
        Outcome::Unavailable => response(503, "Service Unavailable"),
        Outcome::Timeout => Observation::RegisterTimeout { transport: None },
    };
    engine.handle_observation(at + 45, id, last).expect("final");
}

fn answer(engine: &mut Engine, pending: &mut Vec<(TrunkId, u64)>, at: u64, round: u64) {
    for (n, (trunk, probe)) in pending.drain(..).enumerate() {
        let result = if (n as u64 + round) % 41 == 0 {
            ProbeResult::Timeout
        } else {
            ProbeResult::Response { code: 200 }
        };
        // A probe the engine no longer awaits is fine (Ok(false)).
        let _ = engine.handle_probe_result(at, trunk, probe, result, Some(18_000));
    }
}

fn drain(engine: &mut Engine, seen: &mut Seen, pending: &mut Vec<(TrunkId, u64)>) {
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Event(_) => seen.events += 1,
            Output::Action(_) => seen.actions += 1,
            Output::Transmit(p) => {
                seen.probes += 1;
                pending.push((p.trunk, p.id));
            }
        }
    }
}
