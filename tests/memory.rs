//! Memory per trunk with a full 32-entry history stays under 4 KiB
//! (counted by a global allocator; deterministic, not a timing test).
//! `cargo bench --bench memory` prints the figure up to 100k trunks.
use regwatch::{Engine, EngineConfig, Observation, RegisterResponse, RegisterSent, TrunkConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

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
            };
            engine
                .handle_observation(now, id, Observation::RegisterSent(sent))
                .unwrap();
            let ok = RegisterResponse {
                code: 200,
                reason: "OK",
                granted_expires: Some(600),
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
    assert!(per_trunk <= 4096, "{per_trunk} bytes per trunk");
}
