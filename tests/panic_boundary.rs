//! A panic caught at regwatch's edges (a C export, the runner thread) goes
//! to regwatch's own log channel and never to the process's stderr; a panic
//! anywhere else in the process still reaches the panic hook that was there
//! before regwatch.
//!
//! Panic hooks and stderr are process-wide, so each check runs in a child:
//! the parent test spawns this test binary again, running only the matching
//! `child_*` test (which does nothing unless `REGWATCH_PANIC_CHILD` names
//! it), and reads the child's real stderr.
use regwatch::driver::{Runner, RunnerConfig, RunnerError};
use regwatch::ffi::regwatch_status::*;
use regwatch::ffi::*;
use regwatch::TrunkConfig;
use std::ffi::{c_char, c_void, CStr};
use std::process::Command;
use std::ptr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CHILD: &str = "REGWATCH_PANIC_CHILD";

/// Runs `child` in a fresh process with its real stderr; returns stderr.
fn run_child(child: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([child, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, child)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{child} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // The child really ran its checks (and was not filtered away).
    assert!(
        stdout.contains(&format!("{child}: checks passed")),
        "{child} did not run\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stderr
}

fn is_child(name: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(name)
}

static LOG: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(_: *mut c_void, level: u32, msg: *const c_char) {
    let msg = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    LOG.lock().unwrap().push((level, msg));
}

/// A panic inside an engine export, as a bug in regwatch would cause one.
fn engine_panic(marker: &str) {
    let mut e = ptr::null_mut();
    unsafe {
        assert_eq!(regwatch_engine_new(0, 1, &mut e), REGWATCH_STATUS_OK);
        assert_eq!(
            regwatch_engine_set_log_callback(e, Some(collect), ptr::null_mut(), 1),
            REGWATCH_STATUS_OK
        );
    }
    let marker = marker.to_owned();
    let st = test_with_engine(e, move |_| panic!("simulated bug {marker}"));
    assert_eq!(st, REGWATCH_STATUS_PANIC);
    let mut at = 0u64;
    unsafe {
        assert_eq!(
            regwatch_engine_poll_timeout(e, &mut at),
            REGWATCH_STATUS_POISONED
        );
        regwatch_engine_free(e);
    }
}

fn logged(needle: &str) -> Vec<(u32, String)> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn child_engine_panic() {
    if !is_child("child_engine_panic") {
        return;
    }
    engine_panic("0xdead");
    let lines = logged("simulated bug 0xdead");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (level, line) = &lines[0];
    assert_eq!(*level, 1, "logged at ERROR");
    assert!(line.contains("poisoned"), "{line}");
    assert!(
        line.contains("tests/panic_boundary.rs:"),
        "location: {line}"
    );
    println!("child_engine_panic: checks passed");
}

#[test]
fn a_panic_in_an_export_goes_to_the_log_callback_and_not_to_stderr() {
    let stderr = run_child("child_engine_panic");
    assert!(!stderr.contains("0xdead"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

#[test]
fn child_outside_panic() {
    if !is_child("child_outside_panic") {
        return;
    }
    // regwatch's hook is in place from here on.
    engine_panic("0xdead");
    // The host's own panics, on another thread and caught on this one.
    assert!(std::thread::spawn(|| panic!("host thread panic 0xbeef"))
        .join()
        .is_err());
    assert!(std::panic::catch_unwind(|| panic!("host caught panic 0xcafe")).is_err());
    // And regwatch's still go to the log after them.
    engine_panic("0xd00d");
    assert_eq!(logged("simulated bug").len(), 2);
    assert!(logged("0xbeef").is_empty() && logged("0xcafe").is_empty());
    println!("child_outside_panic: checks passed");
}

#[test]
fn a_panic_outside_regwatch_still_reaches_the_default_hook() {
    let stderr = run_child("child_outside_panic");
    // Rust's default hook printed the host's panics, with their location...
    for marker in ["host thread panic 0xbeef", "host caught panic 0xcafe"] {
        assert!(stderr.contains(marker), "{marker} missing: {stderr}");
    }
    assert_eq!(stderr.matches("panicked at").count(), 2, "stderr: {stderr}");
    // ...and none of regwatch's.
    assert!(!stderr.contains("simulated bug"), "stderr: {stderr}");
}

static HOOKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn child_chained_hook() {
    if !is_child("child_chained_hook") {
        return;
    }
    // The host's hook, set before regwatch's is installed.
    std::panic::set_hook(Box::new(|info| {
        let p = info.payload();
        let text = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        HOOKED.lock().unwrap().push(text);
    }));
    engine_panic("0xdead");
    assert!(
        HOOKED.lock().unwrap().is_empty(),
        "regwatch's panic reached the host hook"
    );
    assert!(std::panic::catch_unwind(|| panic!("host panic 0xf00d")).is_err());
    assert!(std::thread::spawn(|| panic!("host thread panic 0xbeef"))
        .join()
        .is_err());
    engine_panic("0xd00d");
    assert_eq!(
        *HOOKED.lock().unwrap(),
        ["host panic 0xf00d", "host thread panic 0xbeef"]
    );
    assert_eq!(logged("simulated bug").len(), 2);
    println!("child_chained_hook: checks passed");
}

#[test]
fn a_panic_outside_regwatch_reaches_the_hook_set_before_it() {
    let stderr = run_child("child_chained_hook");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

/// The runner thread's logs, as `regwatch_runner_start` forwards them.
struct Collect;

static RUNNER_LOG: Mutex<Vec<(tracing::Level, String)>> = Mutex::new(Vec::new());

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Collect {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        RUNNER_LOG
            .lock()
            .unwrap()
            .push((*event.metadata().level(), m.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Starts a runner whose output callback panics on the first output (the
/// validation findings of a trunk with a weak password), adds that trunk
/// and waits for the runner thread to stop.
fn runner_panic(logs: Option<tracing::Dispatch>, marker: &'static str) {
    let r = Runner::start(
        RunnerConfig {
            logs,
            ..RunnerConfig::default()
        },
        Box::new(move |_, _| panic!("runner callback bug {marker}")),
    )
    .unwrap();
    let mut c = TrunkConfig::new("weak");
    c.set("domain", "acme.sip.twilio.com").unwrap();
    c.set("username", "office").unwrap();
    c.set("password", "1234").unwrap();
    c.set("proxy", "127.0.0.1:9").unwrap();
    r.add_trunk(c).unwrap();
    let start = Instant::now();
    while r.snapshot("weak") != Err(RunnerError::Stopped) {
        assert!(start.elapsed() < Duration::from_secs(10), "runner still up");
        std::thread::sleep(Duration::from_millis(10));
    }
    r.stop();
}

#[test]
fn child_runner_panic() {
    if !is_child("child_runner_panic") {
        return;
    }
    runner_panic(Some(tracing::Dispatch::new(Collect)), "0xabc");
    let log = RUNNER_LOG.lock().unwrap().clone();
    let line = log
        .iter()
        .find(|(_, m)| m.contains("runner callback bug 0xabc"))
        .unwrap_or_else(|| panic!("not logged: {log:?}"));
    assert_eq!(line.0, tracing::Level::ERROR);
    assert!(line.1.contains("runner thread has stopped"), "{line:?}");
    // Without a log dispatcher the runner keeps Rust's usual behaviour.
    runner_panic(None, "0x123");
    println!("child_runner_panic: checks passed");
}

#[test]
fn a_panic_in_the_runner_thread_goes_to_its_logs_and_not_to_stderr() {
    let stderr = run_child("child_runner_panic");
    assert!(!stderr.contains("0xabc"), "stderr: {stderr}");
    assert!(
        stderr.contains("runner callback bug 0x123"),
        "stderr: {stderr}"
    );
    assert_eq!(stderr.matches("panicked at").count(), 1, "stderr: {stderr}");
}

static FREED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Frees an engine when the thread's thread-locals are destroyed.
struct FreeOnExit(*mut regwatch_engine);

impl Drop for FreeOnExit {
    fn drop(&mut self) {
        unsafe { regwatch_engine_free(self.0) };
        FREED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

thread_local! {
    static FREE_ON_EXIT: std::cell::RefCell<Option<FreeOnExit>> =
        const { std::cell::RefCell::new(None) };
}

#[test]
fn child_free_in_thread_exit() {
    if !is_child("child_free_in_thread_exit") {
        return;
    }
    std::thread::spawn(|| {
        // Registered first, destroyed last: after regwatch's own
        // thread-locals, as a pthread-key destructor in a C host would be.
        FREE_ON_EXIT.with(|_| {});
        let mut e = ptr::null_mut();
        unsafe {
            assert_eq!(regwatch_engine_new(0, 1, &mut e), REGWATCH_STATUS_OK);
            assert_eq!(
                regwatch_engine_set_log_callback(e, Some(collect), ptr::null_mut(), 1),
                REGWATCH_STATUS_OK
            );
        }
        FREE_ON_EXIT.with(|f| *f.borrow_mut() = Some(FreeOnExit(e)));
    })
    .join()
    .unwrap();
    assert!(FREED.load(std::sync::atomic::Ordering::SeqCst));
    println!("child_free_in_thread_exit: checks passed");
}

#[test]
fn an_engine_freed_while_the_thread_exits_does_not_abort() {
    // Without care the free's panic guard would touch a destroyed
    // thread-local, panic in a destructor and abort the child.
    let stderr = run_child("child_free_in_thread_exit");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}
