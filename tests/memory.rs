//! Memory per trunk with a full 32-entry history stays under 4 KiB, and
//! raw SIP with ever new Call-IDs does not grow the engine (counted by a
//! global allocator; deterministic, not a timing test). `cargo bench
//! --bench memory` prints the per-trunk figure up to 100k trunks.
use regwatch::{
    Direction, Engine, EngineConfig, Observation, RegisterResponse, RegisterSent, SipObserved,
    TrunkConfig,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The counter is global: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as System.alloc.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as System.dealloc.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as System.realloc.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn under_4_kib_per_trunk_with_full_history() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 5_000;
    let before = LIVE.load(Ordering::Relaxed);
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    for i in 0..N {
        let mut cfg = TrunkConfig::new(&format!("trunk-{i:06}"));
        cfg.set("domain", "acme-corporation.sip.ashburn.twilio.com")
            .unwrap();
        cfg.set("username", "office-pbx-main").unwrap();
        cfg.set("password", "Str0ngPassw0rdX-2024").unwrap();
        cfg.set("expires", "600").unwrap();
        let id = engine.add_trunk(0, cfg).unwrap();
        for k in 1..=16u64 {
            let now = k * 300_000;
            let sent = RegisterSent {
                expires: Some(600),
                with_credentials: true,
                transport: None,
                credentials_unknown: false,
            };
            engine
                .handle_observation(now, id, Observation::RegisterSent(sent))
                .unwrap();
            let ok = RegisterResponse {
                code: 200,
                reason: "OK",
                // A grant that varies keeps every entry (identical
                // refreshes would fold into one with a count).
                granted_expires: Some(590 + k as u32),
                contact_bound: Some(true),
                server: Some("Twilio"),
                ..Default::default()
            };
            engine
                .handle_observation(now, id, Observation::RegisterResponse(ok))
                .unwrap();
        }
    }
    while engine.poll_output().is_some() {}
    let per_trunk = (LIVE.load(Ordering::Relaxed) - before) / N;
    assert_eq!(
        engine
            .snapshot(engine.find_trunk("trunk-000000").unwrap())
            .unwrap()
            .history
            .len(),
        32
    );
    eprintln!("{per_trunk} bytes per trunk");
    assert!(per_trunk <= 4096, "{per_trunk} bytes per trunk");
}

fn register(user: &str, host: &str, call_id: &str) -> Vec<u8> {
    format!(
        "REGISTER sip:{host} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK{call_id}\r\n\
         From: <sip:{user}@{host}>;tag=1\r\nTo: <sip:{user}@{host}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@192.0.2.9>\r\n\
         Expires: 600\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A peer that invents a Call-ID for every REGISTER (for the trunks' own
/// AORs and for AORs no trunk has): once every trunk's history is full,
/// 100,000 more REGISTERs leave the engine's memory where it was.
#[test]
fn fresh_call_ids_do_not_grow_the_engine() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 200;
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    for i in 0..N {
        let mut cfg = TrunkConfig::new(&format!("trunk-{i:03}"));
        cfg.set("domain", "acme.sip.twilio.com").unwrap();
        cfg.set("username", &format!("user{i:03}")).unwrap();
        engine.add_trunk(0, cfg).unwrap();
    }
    let mut k = 0u64;
    let mut flood = |engine: &mut Engine, rounds: usize| {
        for _ in 0..rounds {
            for i in 0..N {
                k += 1;
                let own = register(
                    &format!("user{i:03}"),
                    "acme.sip.twilio.com",
                    &format!("own-{k}"),
                );
                let r = engine.observe_sip(k, Direction::Sent, None, &own);
                assert!(matches!(r, Ok(SipObserved::Register(_))), "{r:?}");
                let stranger = register("mallory", "evil.example", &format!("evil-{k}"));
                let r = engine.observe_sip(k, Direction::Sent, None, &stranger);
                assert_eq!(r, Ok(SipObserved::Unmatched));
            }
            while engine.poll_output().is_some() {}
        }
    };
    // Every trunk's history full (32 entries) first.
    flood(&mut engine, 40);
    let before = LIVE.load(Ordering::Relaxed);
    flood(&mut engine, 250);
    let after = LIVE.load(Ordering::Relaxed);
    let grown = after.saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "grew by {grown} bytes over 100,000 REGISTERs"
    );
}
