//! The OPTIONS keep-alive scheduler on a fake clock: spread and jitter at
//! 100k trunks, exact N/M hysteresis, exact confirmation timing, alternate
//! transports, the re-register action, and how the keep-alive's verdict
//! joins the registration's.
use regwatch::{
    Action, Cause, Engine, EngineConfig, Event, Observation, Output, Probe, ProbePurpose,
    ProbeResult, RegState, RegisterResponse, RegisterSent, Transport, TransportErrorKind,
    TrunkConfig, TrunkId,
};
use std::collections::HashMap;

fn cfg(name: &str) -> TrunkConfig {
    let mut c = TrunkConfig::new(name);
    c.set("domain", "acme.sip.twilio.com").unwrap();
    c.set("username", name).unwrap();
    c.set("password", "Str0ng-Passw0rd").unwrap();
    c
}

fn policy(n: u32, m: u32) -> EngineConfig {
    let mut ec = EngineConfig::default();
    ec.set("keepalive", "on").unwrap();
    ec.set("keepalive_failures_to_alert", &n.to_string())
        .unwrap();
    ec.set("keepalive_successes_to_clear", &m.to_string())
        .unwrap();
    ec
}

/// An engine driven on a fake clock; every transmit is answered by
/// `answer` (None: never answered, so the engine's deadline decides).
struct Sim {
    e: Engine,
    now: u64,
    /// Every probe is run later by the host (a job in its queue): its
    /// deadline is deferred by this grace as the C ABI's probe job does.
    job_grace: Option<u64>,
    probes: Vec<Probe>,
    events: Vec<Event>,
    actions: Vec<Action>,
}

impl Sim {
    fn new(ec: EngineConfig) -> Sim {
        Sim {
            e: Engine::new(ec, 0, 42),
            now: 0,
            job_grace: None,
            probes: Vec::new(),
            events: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn add(&mut self, c: TrunkConfig) -> TrunkId {
        let id = self.e.add_trunk(self.now, c).unwrap();
        self.drain();
        id
    }

    fn drain(&mut self) -> Vec<Probe> {
        let mut fresh = Vec::new();
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Transmit(p) => {
                    if let Some(g) = self.job_grace {
                        let until = self.now + (p.deadline_ms - p.at_ms) + g;
                        assert_eq!(self.e.defer_probe_deadline(p.trunk, p.id, until), Ok(true));
                    }
                    fresh.push(p)
                }
                Output::Event(e) => self.events.push(e),
                Output::Action(a) => self.actions.push(a),
            }
        }
        self.probes.extend(fresh.iter().cloned());
        fresh
    }

    /// Runs timers up to `until`, answering each probe as `answer` says
    /// after `delay` ms (answers are delivered in time order with timers).
    fn run(
        &mut self,
        until: u64,
        delay: u64,
        mut answer: impl FnMut(&Probe) -> Option<ProbeResult>,
    ) {
        let mut pending: Vec<(u64, Probe, ProbeResult)> = Vec::new();
        loop {
            let next_timer = self.e.poll_timeout().unwrap_or(u64::MAX);
            pending.sort_by_key(|p| p.0);
            let next_answer = pending.first().map_or(u64::MAX, |p| p.0);
            let t = next_timer.min(next_answer);
            if t > until {
                break;
            }
            self.now = t;
            if next_answer <= next_timer {
                let (at, p, r) = pending.remove(0);
                let _ = self
                    .e
                    .handle_probe_result(at, p.trunk, p.id, r, None)
                    .unwrap();
            } else {
                self.e.handle_timeout(t);
            }
            for p in self.drain() {
                if let Some(r) = answer(&p) {
                    pending.push((self.now + delay, p, r));
                }
            }
        }
        self.now = until;
    }

    fn alerts(&self) -> Vec<(u64, Cause)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::AlertRaised { at_ms, cause, .. } => Some((*at_ms, *cause)),
                _ => None,
            })
            .collect()
    }

    fn cleared(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::AlertCleared { at_ms, .. } => Some(*at_ms),
                _ => None,
            })
            .collect()
    }
}

const OK: Option<ProbeResult> = Some(ProbeResult::Response { code: 200 });

#[test]
fn off_by_default_and_per_trunk_switch() {
    let mut e = Engine::new(EngineConfig::default(), 0, 1);
    e.add_trunk(0, cfg("a")).unwrap();
    while e.poll_output().is_some() {}
    assert_eq!(e.poll_timeout(), None, "no keep-alive unless turned on");

    let mut c = cfg("b");
    c.set("keepalive", "on").unwrap();
    c.set("keepalive_interval", "30").unwrap();
    let b = e.add_trunk(0, c).unwrap();
    let first = e.poll_timeout().expect("b is probed");
    assert!(first < 30_000, "first probe within one interval: {first}");
    e.handle_timeout(first);
    let probes: Vec<Probe> = std::iter::from_fn(|| e.poll_output())
        .filter_map(|o| match o {
            Output::Transmit(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 1);
    let p = &probes[0];
    assert_eq!(
        (
            p.target.host.as_str(),
            p.port,
            p.transport,
            p.target.domain.as_str(),
            p.purpose
        ),
        (
            "acme.sip.twilio.com",
            5060,
            Transport::Udp,
            "acme.sip.twilio.com",
            ProbePurpose::KeepAlive
        )
    );
    assert_eq!(p.deadline_ms, first + 5_000);
    // Turned off again: the outstanding probe is forgotten with its timer.
    let mut c = cfg("b");
    c.set("keepalive", "off").unwrap();
    e.update_trunk(first + 1, b, c).unwrap();
    assert_eq!(e.poll_timeout(), None);
    assert!(!e
        .handle_probe_result(first + 2, b, p.id, ProbeResult::Timeout, None)
        .unwrap());
}

#[test]
fn outbound_proxy_and_tls_targets() {
    let mut e = Engine::new(policy(2, 1), 0, 1);
    let mut c = cfg("p");
    c.set("proxy", "edge.example.net:5080").unwrap();
    let id = e.add_trunk(0, c).unwrap();
    let mut c2 = cfg("t");
    c2.set("transport", "tls").unwrap();
    e.add_trunk(0, c2).unwrap();
    e.handle_timeout(60_000);
    let mut seen = HashMap::new();
    while let Some(o) = e.poll_output() {
        if let Output::Transmit(p) = o {
            seen.insert(p.target.name.to_string(), p);
        }
    }
    let p = &seen["p"];
    assert_eq!(
        (p.target.host.as_str(), p.port, p.target.domain.as_str()),
        ("edge.example.net", 5080, "acme.sip.twilio.com")
    );
    assert_eq!(p.trunk, id);
    let t = &seen["t"];
    assert_eq!(
        (t.target.host.as_str(), t.port, t.transport),
        ("acme.sip.twilio.com", 5061, Transport::Tls)
    );
}

/// A small fleet is probed at once: three trunks added together at the
/// default 60 s interval send their first OPTIONS within 30 ms (one per
/// 10 ms), and a refused one alerts after the confirmation probe (5 s),
/// not up to an interval later.
#[test]
fn a_small_fleet_is_probed_at_once() {
    let mut sim = Sim::new(policy(2, 1));
    let mut ids = Vec::new();
    for n in ["a", "b", "c"] {
        let mut c = cfg(n);
        if n == "c" {
            c.set("proxy", "192.0.2.7:5070").unwrap();
        }
        ids.push(sim.add(c));
    }
    let refused = Some(ProbeResult::TransportError {
        kind: regwatch::TransportErrorKind::Refused,
    });
    sim.run(20_000, 20, |_| refused);
    let firsts: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            sim.probes
                .iter()
                .find(|p| &*p.target.name == *n)
                .map(|p| p.at_ms)
                .unwrap()
        })
        .collect();
    assert!(firsts.iter().all(|&t| t < 30), "first probes at {firsts:?}");
    let alerts = sim.alerts();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(
        alerts.iter().all(|(at, _)| *at <= 5_100),
        "alerts at {alerts:?}"
    );
    // The summary names the address that refused: the domain's with its
    // port, or the outbound proxy's.
    let a = sim.e.diagnose(ids[0]).unwrap().summary;
    assert!(
        a.contains("nothing listens at acme.sip.twilio.com:5060 over UDP"),
        "{a}"
    );
    let c = sim.e.diagnose(ids[2]).unwrap().summary;
    assert!(
        c.contains(
            "nothing listens at 192.0.2.7:5070 (the outbound proxy for acme.sip.twilio.com)"
        ),
        "{c}"
    );
}

/// 100k trunks added at the same instant: first probes spread evenly over
/// one interval, and after rounds of answers the cadence keeps them spread
/// (the jitter never lets them clump).
#[test]
fn hundred_thousand_trunks_spread_and_stay_spread() {
    const N: usize = 100_000;
    let mut sim = Sim::new(policy(2, 1));
    for i in 0..N {
        sim.e.add_trunk(0, cfg(&format!("t{i}"))).unwrap();
    }
    while sim.e.poll_output().is_some() {}

    let check = |label: &str, due: &[u64], from: u64, to: u64, tolerance: f64| {
        let mut per_ms: HashMap<u64, u32> = HashMap::new();
        let mut per_s = vec![0u32; ((to - from) / 1000) as usize];
        for &d in due {
            assert!(
                (from..to).contains(&d),
                "{label}: probe at {d} outside [{from}, {to})"
            );
            *per_ms.entry(d).or_default() += 1;
            per_s[((d - from) / 1000) as usize] += 1;
        }
        // 100k probes over 60,000 ms: 1.67 per ms on average. A uniform
        // spread (Poisson) gives a busiest millisecond of about 9; clumping
        // would give hundreds.
        let busiest = per_ms.values().max().copied().unwrap_or(0);
        assert!(
            busiest <= 12,
            "{label}: {busiest} probes in one millisecond"
        );
        let mean = due.len() as f64 / per_s.len() as f64;
        let (lo, hi) = (per_s.iter().min().unwrap(), per_s.iter().max().unwrap());
        println!("{label}: busiest ms {busiest}, per second {lo}..{hi}, mean {mean:.0}");
        for (s, &n) in per_s.iter().enumerate() {
            assert!(
                (n as f64 - mean).abs() < mean * tolerance,
                "{label}: second {s} has {n} probes, mean {mean:.0}"
            );
        }
        busiest
    };

    // Every probe's send time, for eight minutes, every probe answered.
    let mut sent: Vec<u64> = Vec::with_capacity(9 * N);
    let mut last_sent: HashMap<u64, u64> = HashMap::new();
    let mut gaps = 0usize;
    sim.run(8 * 60_000 - 1, 20, |p| {
        if let Some(prev) = last_sent.insert(p.trunk.as_u64(), p.at_ms) {
            let gap = p.at_ms - prev;
            assert!(
                (54_000..=66_000).contains(&gap),
                "interval {gap} ms outside 60 s ± 10 %"
            );
            gaps += 1;
        }
        sent.push(p.at_ms);
        OK
    });
    assert_eq!(last_sent.len(), N, "every trunk probed");
    assert!(gaps > 6 * N, "{gaps} intervals checked");
    // The first minute: only first probes (the earliest second probe comes
    // 54 s after the earliest first one, so look at [0, 54 s)).
    let first: Vec<u64> = sent.iter().copied().filter(|&t| t < 54_000).collect();
    let b0 = check("first probes", &first, 0, 54_000, 0.12);
    // Later the edges of the first round (a dip and a bump where the
    // jittered second round starts) smooth out as jitter accumulates; by
    // the seventh minute the load is flat again.
    let late: Vec<u64> = sent
        .iter()
        .copied()
        .filter(|&t| (6 * 60_000..8 * 60_000 - 1_000).contains(&t))
        .collect();
    let b1 = check("minutes 7-8", &late, 6 * 60_000, 8 * 60_000 - 1_000, 0.15);
    assert!(sim.alerts().is_empty(), "no alert while everything answers");
    println!("busiest millisecond: {b0} (first probes), {b1} (minutes 7-8)");
}

#[test]
fn hysteresis_n2_m1_with_exact_confirmation_timing() {
    let mut sim = Sim::new(policy(2, 1));
    let id = sim.add(cfg("office"));
    let first = sim.e.poll_timeout().unwrap();
    // The registrar answers until 100 s, then goes silent until 200 s.
    let up = |now: u64| !(100_000..200_000).contains(&now);
    let mut log: Vec<(u64, ProbePurpose)> = Vec::new();
    sim.run(400_000, 15, |p| {
        if p.purpose != ProbePurpose::Alternate {
            log.push((p.at_ms, p.purpose));
        }
        if up(p.at_ms) {
            OK
        } else {
            None
        }
    });
    // The first probe inside the outage times out 5 s after it was sent;
    // the confirmation follows exactly 5 s after that, and its timeout
    // raises the alert: N = 2.
    let fail1 = log
        .iter()
        .find(|(at, _)| (100_000..200_000).contains(at))
        .unwrap()
        .0;
    let confirm = log
        .iter()
        .find(|(_, p)| *p == ProbePurpose::Confirm)
        .unwrap()
        .0;
    assert_eq!(
        confirm,
        fail1 + 5_000 + 5_000,
        "confirmation 5 s after the first timeout"
    );
    let alerts = sim.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0], (confirm + 5_000, Cause::RegistrarUnreachable));
    assert!(
        alerts[0].0 - fail1 <= 15_000,
        "outage confirmed 15 s after the first lost probe, well inside one interval"
    );
    // Alternates went out once with the first UDP failure, and failed too.
    let alts: Vec<&Probe> = sim
        .probes
        .iter()
        .filter(|p| p.purpose == ProbePurpose::Alternate)
        .collect();
    assert_eq!(alts.len(), 2);
    assert_eq!(
        (
            alts[0].transport,
            alts[0].port,
            alts[1].transport,
            alts[1].port
        ),
        (Transport::Tcp, 5060, Transport::Tls, 5061)
    );
    assert_eq!(alts[0].at_ms, fail1 + 5_000);
    // Recovery: the first probe answered after 200 s clears it (M = 1) and
    // asks the host to re-register, once.
    let back = log.iter().find(|(at, _)| *at >= 200_000).unwrap().0;
    assert_eq!(sim.cleared(), vec![back + 15]);
    assert_eq!(sim.actions.len(), 1);
    assert!(matches!(&sim.actions[0], Action::ReRegister { trunk, .. } if *trunk == id));
    assert_eq!(
        sim.e.trunk_state(id).unwrap(),
        (RegState::Unknown, Cause::Unknown)
    );
    assert!(first < 60_000);
}

/// A PBX that runs probes as jobs on one prober thread may start one
/// long after the engine emitted it (a burst at start, unreachable
/// targets ahead in the queue). Answered 12 s after emission, beyond the
/// 5 s timeout: with the deadline deferred as the C ABI's probe job does,
/// no false alarm in ten minutes; without, the same answers raise one.
/// A job the host loses still ends as a timeout, at the deferred deadline.
#[test]
fn a_probe_run_later_as_a_job_is_awaited() {
    let grace = regwatch::core::JOB_QUEUE_GRACE_MS;
    let mut queued = Sim::new(policy(2, 1));
    queued.job_grace = Some(grace);
    queued.add(cfg("office"));
    queued.run(600_000, 12_000, |_| OK);
    assert!(queued.probes.len() >= 9, "{} probes", queued.probes.len());
    assert_eq!(queued.alerts(), vec![]);

    let mut undeferred = Sim::new(policy(2, 1));
    undeferred.add(cfg("office"));
    undeferred.run(600_000, 12_000, |_| OK);
    assert!(
        !undeferred.alerts().is_empty(),
        "the late answers alone raise an alert"
    );

    let mut lost = Sim::new(policy(2, 1));
    lost.job_grace = Some(grace);
    lost.add(cfg("office"));
    lost.run(600_000, 0, |_| None);
    let first = lost.probes[0].at_ms;
    // Lost at first + 5 s + grace, the confirmation 5 s later is lost too.
    let alerts = lost.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0],
        (
            first + 2 * (5_000 + grace) + 5_000,
            Cause::RegistrarUnreachable
        )
    );
}

#[test]
fn hysteresis_n3_m2_exact() {
    let mut sim = Sim::new(policy(3, 2));
    let id = sim.add(cfg("office"));
    // Script: ok, fail, fail, fail (alert at the third), ok, fail, ok, ok
    // (cleared at the second ok in a row, not before).
    let script = [true, false, false, false, true, false, true, true, true];
    let mut i = 0usize;
    let mut results: Vec<(u64, bool)> = Vec::new();
    sim.run(2_000_000, 10, |p| {
        if p.purpose == ProbePurpose::Alternate {
            return Some(ProbeResult::Timeout);
        }
        let ok = script.get(i).copied().unwrap_or(true);
        i += 1;
        results.push((p.at_ms, ok));
        if ok {
            OK
        } else {
            Some(ProbeResult::Response { code: 503 })
        }
    });
    let alerts = sim.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    // Results arrive 10 ms after sending.
    assert_eq!(alerts[0], (results[3].0 + 10, Cause::ServerError));
    assert_eq!(sim.cleared(), vec![results[7].0 + 10]);
    assert_eq!(sim.actions.len(), 1);
    // Failures 1 and 2 are confirmed fast (5 s), the third failure and
    // after go back to the interval.
    assert_eq!(results[2].0, results[1].0 + 10 + 5_000);
    assert_eq!(results[3].0, results[2].0 + 10 + 5_000);
    assert!(results[4].0 - results[3].0 >= 54_000);
    let snap = sim.e.snapshot(id).unwrap();
    assert_eq!(snap.keepalive.failures_in_row, 0);
    assert_eq!(snap.keepalive.failed, 4);
    // 503 answers count as failures but not as timeouts: no alternates.
    assert!(sim
        .probes
        .iter()
        .all(|p| p.purpose != ProbePurpose::Alternate));
}

#[test]
fn udp_blocked_while_tcp_answers_is_transport_blocked() {
    let mut sim = Sim::new(policy(2, 1));
    let id = sim.add(cfg("office"));
    sim.run(200_000, 3, |p| match p.transport {
        Transport::Udp => None,
        Transport::Tcp => OK,
        Transport::Tls => Some(ProbeResult::TransportError {
            kind: TransportErrorKind::Tls,
        }),
    });
    assert_eq!(sim.alerts()[0].1, Cause::TransportBlocked);
    let d = sim.e.diagnose(id).unwrap();
    assert_eq!(d.cause, Cause::TransportBlocked);
    assert!(
        d.summary.contains("UDP") && d.summary.contains("TCP"),
        "{}",
        d.summary
    );
    assert!(
        d.evidence
            .iter()
            .any(|e| e.starts_with("OPTIONS keep-alive to acme.sip.twilio.com:5060 over UDP")),
        "{:#?}",
        d.evidence
    );
    // Alternates only once per outage.
    let alts = sim
        .probes
        .iter()
        .filter(|p| p.purpose == ProbePurpose::Alternate)
        .count();
    assert_eq!(alts, 2);
}

/// A registrar going down can close UDP a moment before TCP: the first
/// alternates find TCP still answering. During a long outage they are sent
/// again every 10 failures, so the verdict follows what is true now.
#[test]
fn alternates_again_during_a_long_outage() {
    let mut sim = Sim::new(policy(2, 1));
    let id = sim.add(cfg("office"));
    let mut tcp_rounds = 0;
    // 20 minutes at the 60 s default: about 20 UDP failures.
    sim.run(20 * 60_000, 3, |p| match (p.transport, p.purpose) {
        (Transport::Udp, _) => None,
        (Transport::Tcp, _) => {
            tcp_rounds += 1;
            if tcp_rounds == 1 {
                OK
            } else {
                Some(ProbeResult::TransportError {
                    kind: TransportErrorKind::Refused,
                })
            }
        }
        (Transport::Tls, _) => Some(ProbeResult::TransportError {
            kind: TransportErrorKind::Refused,
        }),
    });
    let alerts = sim.alerts();
    assert_eq!(alerts[0].1, Cause::TransportBlocked, "{alerts:?}");
    assert!(tcp_rounds >= 2, "alternates sent again: {tcp_rounds}");
    let alts = sim
        .probes
        .iter()
        .filter(|p| p.purpose == ProbePurpose::Alternate)
        .count();
    assert!((4..=6).contains(&alts), "{alts}");
    let d = sim.e.diagnose(id).unwrap();
    assert_ne!(d.cause, Cause::TransportBlocked, "{:#?}", d);
    assert!(
        matches!(
            d.cause,
            Cause::RegistrarUnreachable | Cause::ConnectionRefused
        ),
        "{:?}",
        d.cause
    );
}

/// A REGISTER that failed on the network while the keep-alive never
/// counted an outage (the failure fell between two probes): the next
/// answered probe asks the host to re-register, once per failed REGISTER.
#[test]
fn answered_probe_after_a_failed_register_asks_for_one_register() {
    let mut sim = Sim::new(policy(2, 1));
    let id = sim.add(cfg("office"));
    sim.run(120_000, 3, |_| OK);
    assert!(sim.actions.is_empty());
    let fail = |sim: &mut Sim, at: u64| {
        sim.e
            .handle_observation(
                at,
                id,
                Observation::RegisterSent(RegisterSent {
                    expires: Some(600),
                    with_credentials: false,
                    transport: Some(Transport::Udp),
                    credentials_unknown: false,
                }),
            )
            .unwrap();
        sim.e
            .handle_observation(
                at,
                id,
                Observation::TransportError {
                    transport: Some(Transport::Udp),
                    kind: TransportErrorKind::Refused,
                    detail: None,
                },
            )
            .unwrap();
        sim.drain();
    };
    fail(&mut sim, 121_000);
    assert_eq!(sim.e.trunk_state(id).unwrap().1, Cause::ConnectionRefused);
    // Probes keep answering for four more minutes: one request only.
    sim.run(360_000, 3, |_| OK);
    assert_eq!(sim.actions.len(), 1, "{:?}", sim.actions);
    assert!(matches!(&sim.actions[0], Action::ReRegister { trunk, .. } if *trunk == id));
    // The host's next REGISTER fails the same way: one more request.
    fail(&mut sim, 361_000);
    sim.run(600_000, 3, |_| OK);
    assert_eq!(sim.actions.len(), 2, "{:?}", sim.actions);
    // No alert was ever raised by the keep-alive itself.
    assert!(sim
        .alerts()
        .iter()
        .all(|(_, c)| *c == Cause::ConnectionRefused));
}

#[test]
fn refused_dns_and_tls_name_their_causes() {
    for (kind, cause, alternates) in [
        (TransportErrorKind::Refused, Cause::ConnectionRefused, 2),
        (TransportErrorKind::Dns, Cause::DnsFailure, 0),
        (
            TransportErrorKind::Unreachable,
            Cause::RegistrarUnreachable,
            2,
        ),
    ] {
        let mut sim = Sim::new(policy(2, 1));
        sim.add(cfg("office"));
        sim.run(200_000, 1, |p| match p.purpose {
            ProbePurpose::Alternate => Some(ProbeResult::TransportError { kind }),
            _ => Some(ProbeResult::TransportError { kind }),
        });
        assert_eq!(sim.alerts().first().map(|a| a.1), Some(cause), "{kind:?}");
        let n = sim
            .probes
            .iter()
            .filter(|p| p.purpose == ProbePurpose::Alternate)
            .count();
        assert_eq!(n, alternates, "{kind:?}");
    }
    let mut ec = policy(2, 1);
    ec.set("keepalive", "on").unwrap();
    let mut sim = Sim::new(ec);
    let mut c = cfg("office");
    c.set("transport", "tls").unwrap();
    sim.add(c);
    sim.run(200_000, 1, |_| {
        Some(ProbeResult::TransportError {
            kind: TransportErrorKind::Tls,
        })
    });
    assert_eq!(sim.alerts()[0].1, Cause::TlsFailure);
    assert!(
        sim.probes
            .iter()
            .all(|p| p.purpose != ProbePurpose::Alternate),
        "alternates follow UDP failures only"
    );
}

#[test]
fn refusing_and_challenging_registrars_are_reachable() {
    for code in [401, 403, 404, 407, 405] {
        let mut sim = Sim::new(policy(1, 1));
        let id = sim.add(cfg("office"));
        sim.run(300_000, 5, |_| Some(ProbeResult::Response { code }));
        assert!(sim.alerts().is_empty(), "{code}: {:?}", sim.alerts());
        let k = sim.e.snapshot(id).unwrap().keepalive;
        assert_eq!((k.last_code, k.failures_in_row), (Some(code), 0));
        assert!(k.rtt.count >= 4 && k.rtt.avg_us == 5_000, "{:?}", k.rtt);
    }
    // A locally generated 408 is a timeout, not an answer.
    let mut sim = Sim::new(policy(1, 1));
    sim.add(cfg("office"));
    sim.run(100_000, 5, |_| {
        Some(ProbeResult::LocalResponse { code: 408 })
    });
    assert_eq!(sim.alerts()[0].1, Cause::RegistrarUnreachable);
}

#[test]
fn late_and_unknown_results_change_nothing() {
    let mut sim = Sim::new(policy(1, 1));
    let id = sim.add(cfg("office"));
    sim.run(70_000, 0, |_| None);
    // The first probe timed out; its answer comes late.
    let p = sim.probes[0].clone();
    assert_eq!(sim.alerts().len(), 1);
    assert!(!sim
        .e
        .handle_probe_result(70_001, id, p.id, ProbeResult::Response { code: 200 }, None)
        .unwrap());
    assert!(!sim
        .e
        .handle_probe_result(
            70_001,
            id,
            999_999,
            ProbeResult::Response { code: 200 },
            None
        )
        .unwrap());
    sim.drain();
    assert!(sim.cleared().is_empty());
    // A removed trunk leaves no timers behind.
    sim.e.remove_trunk(70_002, id).unwrap();
    sim.drain();
    assert_eq!(sim.e.poll_timeout(), None);
    assert!(sim
        .e
        .handle_probe_result(70_003, id, p.id, ProbeResult::Timeout, None)
        .is_err());
}

#[test]
fn keepalive_outage_joins_the_registration_verdict() {
    let mut sim = Sim::new(policy(2, 1));
    let id = sim.add(cfg("office"));
    // Registered for an hour.
    sim.e
        .handle_observation(
            0,
            id,
            Observation::RegisterSent(RegisterSent {
                expires: Some(3600),
                with_credentials: true,
                transport: Some(Transport::Udp),
                credentials_unknown: false,
            }),
        )
        .unwrap();
    sim.e
        .handle_observation(
            1,
            id,
            Observation::RegisterResponse(RegisterResponse {
                code: 200,
                reason: "OK",
                granted_expires: Some(3600),
                contact_bound: Some(true),
                ..Default::default()
            }),
        )
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.e.trunk_state(id).unwrap(),
        (RegState::Registered, Cause::Healthy)
    );
    // The registrar stops answering at 120 s and comes back at 600 s.
    sim.run(900_000, 8, |p| {
        if (120_000..600_000).contains(&p.at_ms) {
            None
        } else {
            OK
        }
    });
    let alerts = sim.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].1, Cause::RegistrarUnreachable);
    assert!(alerts[0].0 < 120_000 + 60_000 + 15_000);
    // While it lasted, the state stayed registered (the binding is still
    // valid) with the network cause; after, the action, and `registering`
    // with the outage's cause (its alert standing): an answered OPTIONS is
    // not a binding.
    let during = sim.events.iter().find_map(|e| match e {
        Event::StateChanged { to, cause, .. } if *cause == Cause::RegistrarUnreachable => Some(*to),
        _ => None,
    });
    assert_eq!(during, Some(RegState::Registered));
    assert_eq!(sim.actions.len(), 1);
    assert_eq!(
        sim.e.trunk_state(id).unwrap(),
        (RegState::Registering, Cause::RegistrarUnreachable)
    );
    assert_eq!(sim.cleared().len(), 0);
    // The host's REGISTER is answered: healthy, the alert cleared.
    let now = sim.now;
    sim.e
        .handle_observation(
            now,
            id,
            Observation::RegisterSent(RegisterSent {
                expires: Some(3600),
                with_credentials: true,
                transport: Some(Transport::Udp),
                credentials_unknown: false,
            }),
        )
        .unwrap();
    sim.e
        .handle_observation(
            now + 20,
            id,
            Observation::RegisterResponse(RegisterResponse {
                code: 200,
                reason: "OK",
                granted_expires: Some(3600),
                contact_bound: Some(true),
                ..Default::default()
            }),
        )
        .unwrap();
    sim.drain();
    assert_eq!(
        sim.e.trunk_state(id).unwrap(),
        (RegState::Registered, Cause::Healthy)
    );
    assert_eq!(sim.cleared().len(), 1);
    // A real registration failure outranks the keep-alive's verdict.
    let mut sim = Sim::new(policy(1, 1));
    let id = sim.add(cfg("office"));
    sim.run(70_000, 0, |_| None);
    sim.e
        .handle_observation(
            70_001,
            id,
            Observation::RegisterSent(RegisterSent {
                expires: Some(600),
                with_credentials: true,
                transport: None,
                credentials_unknown: false,
            }),
        )
        .unwrap();
    sim.e
        .handle_observation(
            70_002,
            id,
            Observation::RegisterResponse(RegisterResponse {
                code: 403,
                reason: "Forbidden",
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(sim.e.trunk_state(id).unwrap().1, Cause::CredentialsRejected);
}

#[test]
fn same_seed_same_schedule() {
    let schedule = |seed: u64| {
        let mut e = Engine::new(policy(2, 1), 0, seed);
        for i in 0..100 {
            e.add_trunk(0, cfg(&format!("t{i}"))).unwrap();
        }
        while e.poll_output().is_some() {}
        let mut due = Vec::new();
        while let Some(t) = e.poll_timeout() {
            if t > 60_000 {
                break;
            }
            e.handle_timeout(t);
            while let Some(o) = e.poll_output() {
                if let Output::Transmit(p) = o {
                    due.push((p.target.name.to_string(), p.at_ms));
                    let _ = e.handle_probe_result(
                        t,
                        p.trunk,
                        p.id,
                        ProbeResult::Response { code: 200 },
                        None,
                    );
                }
            }
        }
        due
    };
    assert_eq!(schedule(7), schedule(7));
    assert_ne!(schedule(7), schedule(8));
}

/// DESIGN.md, "Field rules": after an outage, only trunks whose
/// registration failed on reachability are re-registered; a trunk the
/// registrar rejected (a wrong password: 407 then 403) gets no REGISTER
/// from regwatch, not even when a retry of the PBX timed out during the
/// outage.
#[test]
fn recovery_reregisters_only_trunks_that_failed_on_reachability() {
    let mut sim = Sim::new(policy(2, 1));
    let healthy = sim.add(cfg("healthy"));
    let rejected = sim.add(cfg("rejected"));
    let retried = sim.add(cfg("retried"));
    let register = |sim: &mut Sim, id: TrunkId, creds: bool| {
        let o = Observation::RegisterSent(RegisterSent {
            expires: Some(600),
            with_credentials: creds,
            transport: Some(Transport::Udp),
            credentials_unknown: false,
        });
        sim.e.handle_observation(sim.now, id, o).unwrap();
    };
    let answer = |sim: &mut Sim, id: TrunkId, code: u16| {
        let r = RegisterResponse {
            code,
            reason: "",
            granted_expires: (code == 200).then_some(600),
            ..RegisterResponse::default()
        };
        sim.e
            .handle_observation(sim.now, id, Observation::RegisterResponse(r))
            .unwrap();
    };
    register(&mut sim, healthy, false);
    answer(&mut sim, healthy, 200);
    for id in [rejected, retried] {
        register(&mut sim, id, false);
        answer(&mut sim, id, 407);
        register(&mut sim, id, true);
        answer(&mut sim, id, 403);
    }
    sim.drain();
    let up = |now: u64| !(100_000..200_000).contains(&now);
    sim.run(150_000, 15, |p| if up(p.at_ms) { OK } else { None });
    // During the outage the PBX retries "retried": its REGISTER times out.
    register(&mut sim, retried, false);
    sim.e
        .handle_observation(
            sim.now,
            retried,
            Observation::RegisterTimeout { transport: None },
        )
        .unwrap();
    sim.drain();
    sim.run(400_000, 15, |p| if up(p.at_ms) { OK } else { None });
    let asked: Vec<TrunkId> = sim
        .actions
        .iter()
        .map(|a| match a {
            Action::ReRegister { trunk, .. } => *trunk,
        })
        .collect();
    assert_eq!(asked, vec![healthy], "{:?}", sim.actions);
    assert_eq!(
        sim.e.trunk_state(rejected).unwrap(),
        (RegState::Rejected, Cause::CredentialsRejected)
    );
}

/// A 403 whose REGISTER's credentials the host did not report (FreeSWITCH)
/// is told apart by one account query: a REGISTER without Contact (it
/// changes no binding) and without credentials.
#[test]
fn an_unexplained_403_is_settled_by_one_account_query() {
    for (answer, cause) in [
        (407, Cause::CredentialsRejected),
        (401, Cause::CredentialsRejected),
        (403, Cause::AccountForbidden),
        (404, Cause::DomainNotFound),
        (500, Cause::AccountForbidden),
    ] {
        let mut sim = Sim::new(policy(2, 1));
        let id = sim.add(cfg("gw"));
        let failed_403 = |sim: &mut Sim| {
            let o = Observation::RegisterSent(RegisterSent {
                expires: Some(600),
                credentials_unknown: true,
                ..RegisterSent::default()
            });
            sim.e.handle_observation(sim.now, id, o).unwrap();
            let r = RegisterResponse {
                code: 403,
                reason: "Forbidden",
                ..RegisterResponse::default()
            };
            sim.e
                .handle_observation(sim.now, id, Observation::RegisterResponse(r))
                .unwrap();
        };
        failed_403(&mut sim);
        let queries: Vec<Probe> = sim
            .drain()
            .into_iter()
            .filter(|p| p.purpose == ProbePurpose::AccountQuery)
            .collect();
        assert_eq!(queries.len(), 1, "{answer}");
        let req = queries[0].request("192.0.2.1:5060", "t");
        assert!(req.starts_with("REGISTER sip:"), "{req}");
        assert!(!req.contains("\r\nContact:"), "{req}");
        assert!(!req.contains("Authorization:"), "{req}");
        // Until it is answered, both candidates; the failure is counted
        // once the answer says under which cause (a counter never takes a
        // count back).
        assert_eq!(sim.e.trunk_state(id).unwrap().1, Cause::AccountForbidden);
        assert!(sim.e.snapshot(id).unwrap().counters.failures().is_empty());
        let d = sim.e.diagnose(id).unwrap();
        assert!(
            d.summary.contains("or the password was refused"),
            "{}",
            d.summary
        );
        sim.e
            .handle_probe_result(
                sim.now + 30,
                id,
                queries[0].id,
                ProbeResult::Response { code: answer },
                None,
            )
            .unwrap();
        sim.drain();
        assert_eq!(
            sim.e.trunk_state(id).unwrap(),
            (RegState::Rejected, cause),
            "{answer}"
        );
        if answer != 500 {
            let d = sim.e.diagnose(id).unwrap();
            assert!(
                !d.summary.contains("or the password was refused"),
                "{}",
                d.summary
            );
            assert!(
                d.evidence
                    .iter()
                    .any(|e| e.contains("query REGISTER") && e.contains(&answer.to_string())),
                "{:?}",
                d.evidence
            );
        }
        // FreeSWITCH retries: the answer is kept, no second query.
        for _ in 0..5 {
            sim.now += 30_000;
            failed_403(&mut sim);
        }
        let again = sim
            .drain()
            .into_iter()
            .filter(|p| p.purpose == ProbePurpose::AccountQuery)
            .count();
        assert_eq!(again, 0, "{answer}");
        assert_eq!(sim.e.trunk_state(id).unwrap().1, cause, "{answer}");
        // Six failed attempts, every one under the cause the query named.
        let counters = sim.e.snapshot(id).unwrap().counters;
        assert_eq!(counters.failures(), &[(cause, 6)], "{answer}");
        assert_eq!(counters.attempts, 6, "{answer}");
    }
}
