//! Engine costs: one observation through the C ABI, timer handling
//! (poll_timeout + handle_timeout) and raw-SIP observation (`observe_sip`)
//! from 1k to 100k trunks.
//!
//!     cargo bench --bench engine
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use regwatch::ffi::regwatch_status::REGWATCH_STATUS_OK;
use regwatch::ffi::*;
use regwatch::ProbeResult;
use regwatch::{
    Direction, Engine, EngineConfig, Event, Observation, Output, RegisterResponse, RegisterSent,
    SipObserved, Transport, TrunkConfig, TrunkId,
};
use std::ffi::CString;
use std::hint::black_box;
use std::ptr;
use std::time::{Duration, Instant};

const TRUNKS: usize = 1000;

fn ffi_engine(n: usize) -> (*mut regwatch_engine, Vec<CString>) {
    let mut e = ptr::null_mut();
    let mut names = Vec::new();
    unsafe {
        assert_eq!(regwatch_engine_new(0, 1, &mut e), REGWATCH_STATUS_OK);
        for i in 0..n {
            let mut cfg = ptr::null_mut();
            assert_eq!(regwatch_trunk_config_new(&mut cfg), REGWATCH_STATUS_OK);
            let name = CString::new(format!("trunk-{i:06}")).unwrap();
            let set = |k: &str, v: &str| {
                let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
                assert_eq!(
                    regwatch_trunk_config_set(cfg, k.as_ptr(), v.as_ptr()),
                    REGWATCH_STATUS_OK
                );
            };
            set("name", name.to_str().unwrap());
            set("domain", "acme.sip.twilio.com");
            set("username", "office");
            set("password", "Str0ngPassw0rdX");
            set("expires", "600");
            assert_eq!(regwatch_engine_add_trunk(e, 0, cfg), REGWATCH_STATUS_OK);
            regwatch_trunk_config_free(cfg);
            names.push(name);
        }
        let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
        regwatch_event_init(ev.as_mut_ptr());
        while regwatch_engine_poll_event(e, ev.as_mut_ptr()) == REGWATCH_STATUS_OK {}
    }
    (e, names)
}

fn ok_response() -> regwatch_register_response {
    let mut r = std::mem::MaybeUninit::uninit();
    unsafe {
        regwatch_register_response_init(r.as_mut_ptr());
        let mut r = r.assume_init();
        r.code = 200;
        r.reason = c"OK".as_ptr();
        r.granted_expires = 600;
        r.contact_bound = 1;
        r.server = c"Twilio".as_ptr();
        r.transport = REGWATCH_TRANSPORT_UDP;
        r
    }
}

/// One observation through the C ABI, on an engine with 1,000 trunks that
/// are all registered (the steady state: refreshes answered with 200 OK).
fn ffi_observation(c: &mut Criterion) {
    let (e, names) = ffi_engine(TRUNKS);
    let resp = ok_response();
    let mut now = 1u64;
    let mut i = 0usize;
    // Register every trunk once.
    for n in &names {
        unsafe {
            assert_eq!(
                regwatch_engine_register_sent(e, now, n.as_ptr(), 600, true, 1),
                REGWATCH_STATUS_OK
            );
            assert_eq!(
                regwatch_engine_register_response(e, now, n.as_ptr(), &resp),
                REGWATCH_STATUS_OK
            );
        }
    }
    let mut ev = std::mem::MaybeUninit::<regwatch_event>::uninit();
    unsafe { regwatch_event_init(ev.as_mut_ptr()) };
    while unsafe { regwatch_engine_poll_event(e, ev.as_mut_ptr()) } == REGWATCH_STATUS_OK {}

    let mut g = c.benchmark_group("ffi_observation_1k_trunks");
    g.throughput(Throughput::Elements(1));
    g.bench_function("register_sent", |b| {
        b.iter(|| {
            i = (i + 1) % TRUNKS;
            now += 1;
            unsafe {
                black_box(regwatch_engine_register_sent(
                    e,
                    now,
                    names[i].as_ptr(),
                    600,
                    true,
                    1,
                ))
            }
        })
    });
    g.bench_function("register_response_200", |b| {
        b.iter(|| {
            i = (i + 1) % TRUNKS;
            now += 1;
            unsafe {
                black_box(regwatch_engine_register_response(
                    e,
                    now,
                    names[i].as_ptr(),
                    &resp,
                ))
            }
        })
    });
    g.finish();
    unsafe { regwatch_engine_free(e) };
}

fn rust_engine(n: usize) -> (Engine, Vec<TrunkId>) {
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut cfg = TrunkConfig::new(&format!("trunk-{i:06}"));
        cfg.set("domain", "acme.sip.twilio.com").unwrap();
        cfg.set("username", "office").unwrap();
        cfg.set("expires", "600").unwrap();
        let id = engine.add_trunk(0, cfg).unwrap();
        // Spread the bindings over 600 s so deadlines are distinct.
        let at = (i as u64 * 600_000) / n as u64;
        register(&mut engine, id, at);
        ids.push(id);
    }
    while engine.poll_output().is_some() {}
    (engine, ids)
}

fn register(engine: &mut Engine, id: TrunkId, at: u64) {
    engine
        .handle_observation(
            at,
            id,
            Observation::RegisterSent(RegisterSent {
                expires: Some(600),
                with_credentials: true,
                transport: None,
                credentials_unknown: false,
            }),
        )
        .unwrap();
    engine
        .handle_observation(
            at,
            id,
            Observation::RegisterResponse(RegisterResponse {
                code: 200,
                reason: "OK",
                granted_expires: Some(600),
                contact_bound: Some(true),
                ..Default::default()
            }),
        )
        .unwrap();
}

/// The timer path at scale: `poll_timeout` + `handle_timeout` for the due
/// refresh check (a state change and an alert) + draining the outputs.
/// Only those calls are timed; the re-registration that keeps the engine in
/// its steady state (every trunk bound, one timer each) is not.
fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_poll_and_fire");
    g.throughput(Throughput::Elements(1));
    for n in [1_000usize, 10_000, 100_000] {
        let (mut engine, _ids) = rust_engine(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let at = engine.poll_timeout().expect("a timer per trunk");
                    engine.handle_timeout(at);
                    let mut fired = None;
                    while let Some(o) = engine.poll_output() {
                        if let Output::Event(Event::StateChanged { trunk, .. }) = &o {
                            fired = Some(*trunk);
                        }
                        black_box(o);
                    }
                    total += t.elapsed();
                    let id = fired.expect("the refresh check fires a state change");
                    register(&mut engine, id, at);
                    while engine.poll_output().is_some() {}
                }
                total
            });
        });
    }
    g.finish();
}

/// The keep-alive scheduler at scale: per probe, the timer firing that
/// emits it (`poll_timeout` + `handle_timeout` + drain) and its answer
/// (`handle_probe_result` + drain, which re-arms the next one). Every
/// trunk has one keep-alive timer; nothing else is scheduled.
fn keepalive(c: &mut Criterion) {
    let mut g = c.benchmark_group("keepalive_probe_fire_and_result");
    g.throughput(Throughput::Elements(1));
    for n in [1_000usize, 100_000] {
        let mut ec = EngineConfig::default();
        ec.set("keepalive", "on").unwrap();
        let mut engine = Engine::new(ec, 0, 1);
        for i in 0..n {
            let mut cfg = TrunkConfig::new(&format!("trunk-{i:06}"));
            cfg.set("domain", "acme.sip.twilio.com").unwrap();
            cfg.set("username", "office").unwrap();
            engine.add_trunk(0, cfg).unwrap();
        }
        while engine.poll_output().is_some() {}
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                // Each firing may emit more than one probe (several due in
                // the same millisecond); every probe is answered, and
                // counted as one iteration.
                let mut done = 0;
                let mut probes = Vec::new();
                while done < iters {
                    let at = engine.poll_timeout().expect("a keep-alive timer per trunk");
                    engine.handle_timeout(at);
                    while let Some(o) = engine.poll_output() {
                        if let Output::Transmit(p) = o {
                            probes.push(p);
                        }
                    }
                    assert!(!probes.is_empty(), "every timer here emits a probe");
                    for p in probes.drain(..) {
                        let answered = engine
                            .handle_probe_result(
                                at + 2,
                                p.trunk,
                                p.id,
                                ProbeResult::Response { code: 200 },
                                Some(1500),
                            )
                            .unwrap();
                        assert!(answered);
                        done += 1;
                    }
                    while let Some(o) = engine.poll_output() {
                        black_box(o);
                    }
                }
                t.elapsed()
            });
        });
    }
    g.finish();
}

/// A REGISTER of `user` in a dialog of its own (`call_id`), and the 200 OK
/// that answers it.
fn register_exchange(user: usize, call_id: u64) -> (Vec<u8>, Vec<u8>) {
    let common = format!(
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-{call_id}\r\n\
         From: <sip:user{user:06}@acme.sip.twilio.com>;tag=f{call_id}\r\n\
         To: <sip:user{user:06}@acme.sip.twilio.com>\r\n\
         Call-ID: bench-{call_id}@192.0.2.1\r\n\
         CSeq: 1 REGISTER\r\n"
    );
    let register = format!(
        "REGISTER sip:acme.sip.twilio.com SIP/2.0\r\n{common}\
         Contact: <sip:user{user:06}@192.0.2.1:5060>\r\n\
         Expires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\n{common}\
         Contact: <sip:user{user:06}@192.0.2.1:5060>;expires=600\r\n\
         Content-Length: 0\r\n\r\n"
    );
    (register.into_bytes(), ok.into_bytes())
}

/// Raw-SIP observation at scale (the C ABI's `regwatch_engine_observe_sip`
/// path): a REGISTER in a dialog the engine has never seen, so it is
/// matched to its trunk by AOR (the costly case), then the 200 OK that
/// answers it (matched by Call-ID). Both `observe_sip` calls and the drain
/// of their outputs are timed; building the messages is not. Every trunk
/// has its own user on one shared domain.
fn observe_sip(c: &mut Criterion) {
    let mut g = c.benchmark_group("observe_sip_register_and_200");
    g.throughput(Throughput::Elements(2));
    for n in [1_000usize, 10_000, 100_000] {
        let mut engine = Engine::new(EngineConfig::default(), 0, 1);
        for i in 0..n {
            let mut cfg = TrunkConfig::new(&format!("trunk-{i:06}"));
            cfg.set("domain", "acme.sip.twilio.com").unwrap();
            cfg.set("username", &format!("user{i:06}")).unwrap();
            cfg.set("expires", "600").unwrap();
            engine.add_trunk(0, cfg).unwrap();
        }
        while engine.poll_output().is_some() {}
        let mut k = 0u64;
        let mut now = 1u64;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || {
                    k += 1;
                    // Spread over the trunks (a prime stride).
                    register_exchange((k as usize * 7919) % n, k)
                },
                |(register, ok)| {
                    now += 1;
                    let r =
                        engine.observe_sip(now, Direction::Sent, Some(Transport::Udp), &register);
                    assert!(matches!(r, Ok(SipObserved::Register(_))), "{r:?}");
                    let r = engine.observe_sip(now, Direction::Received, Some(Transport::Udp), &ok);
                    assert!(matches!(r, Ok(SipObserved::Response(_))), "{r:?}");
                    while let Some(o) = engine.poll_output() {
                        black_box(o);
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = ffi_observation, timers, keepalive, observe_sip
}
criterion_main!(benches);
