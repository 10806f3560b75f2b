//! Memory per trunk: 1k to 100k trunks, each with a full 32-entry history,
//! counted by a global allocator that tracks live bytes.
//!
//!     cargo bench --bench memory
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

fn main() {
    println!("trunks    bytes/trunk (32-entry history full, Twilio-style config)");
    for n in [1_000usize, 10_000, 100_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut engine = Engine::new(EngineConfig::default(), 0, 1);
        for i in 0..n {
            let mut cfg = TrunkConfig::new(&format!("trunk-{i:06}"));
            cfg.set("domain", "acme-corporation.sip.ashburn.twilio.com")
                .unwrap();
            cfg.set("username", "office-pbx-main").unwrap();
            cfg.set("password", "Str0ngPassw0rdX-2024").unwrap();
            cfg.set("transport", "tls").unwrap();
            cfg.set("port", "5061").unwrap();
            cfg.set("expires", "600").unwrap();
            let id = engine.add_trunk(0, cfg).unwrap();
            let mut now = 0;
            for _ in 0..16 {
                now += 300_000;
                engine
                    .handle_observation(
                        now,
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
                        now,
                        id,
                        Observation::RegisterResponse(RegisterResponse {
                            code: 200,
                            reason: "OK",
                            granted_expires: Some(600),
                            contact_bound: Some(true),
                            server: Some("Twilio"),
                            ..Default::default()
                        }),
                    )
                    .unwrap();
            }
            assert_eq!(engine.snapshot(id).unwrap().history.len(), 32);
        }
        while engine.poll_output().is_some() {}
        let used = LIVE.load(Ordering::Relaxed) - before;
        println!("{n:>7}   {:>6}", used / n);
        drop(engine);
    }
}
