//! `regwatch_runner`: the keep-alive runner (its own thread; events and
//! logs reach C on that thread).
use super::boundary::{
    free_box, guard, opt_str, put_box, req_str, try_ffi, with_handle, write_out, Handle,
};
use super::config::regwatch_trunk_config;
use super::event::{event_of, regwatch_event, EventStore};
use super::log::{regwatch_log_callback, regwatch_log_level, CallbackLogger};
use super::regwatch_status;
use crate::driver::{Runner, RunnerConfig};
use crate::hosts::render::{render, Origin, Reregister};
use crate::EngineConfig;
use std::ffi::{c_char, c_void};

/// A running keep-alive monitor (see `regwatch_runner_start`).
pub struct regwatch_runner {
    runner: Option<Runner>,
    poisoned: bool,
}

impl Handle for regwatch_runner {
    fn poisoned(&self) -> bool {
        self.poisoned || self.runner.is_none()
    }
    fn poison(&mut self) {
        self.poisoned = true;
    }
}

impl Drop for regwatch_runner {
    fn drop(&mut self) {
        if let Some(r) = self.runner.take() {
            r.stop();
        }
    }
}

/// Called on the runner thread with each output (state changes, alerts,
/// findings, "re-register now"). The event and its strings are valid for
/// the call only. Must not call `regwatch_runner_*` on the same runner.
pub type regwatch_runner_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const regwatch_event)>;

struct CallbackTarget {
    cb: unsafe extern "C" fn(*mut c_void, *const regwatch_event),
    userdata: *mut c_void,
}

// SAFETY: the callback and its userdata are used on the runner thread
// only, as documented on `regwatch_runner_start`; the host vouches that
// they may be used from that thread.
unsafe impl Send for CallbackTarget {}

/// Starts a keep-alive runner: a thread that owns an engine with
/// keep-alives on and its sockets (UDP, TCP, TLS), probes every trunk added
/// with `regwatch_runner_add_trunk`, and calls `on_event` (on that thread)
/// with every output. `option_keys` / `option_values` (`n` pairs, may be
/// NULL when `n` is 0) are engine options as for
/// `regwatch_engine_set_option` (`keepalive_interval_ms`...). `ca_file`
/// (may be NULL): PEM CAs for TLS, read before this returns (one that
/// cannot be used: `REGWATCH_STATUS_IO`, no runner). `on_log` (may be NULL) gets the runner
/// thread's logs at `max_level` or above, on that thread. `userdata` is
/// passed to both callbacks and must outlive the runner. Free with
/// `regwatch_runner_free`, which stops the thread and closes its sockets.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_runner_start(
    option_keys: *const *const c_char,
    option_values: *const *const c_char,
    n: usize,
    ca_file: *const c_char,
    on_event: regwatch_runner_event_callback,
    on_log: regwatch_log_callback,
    max_level: regwatch_log_level,
    userdata: *mut c_void,
    out: *mut *mut regwatch_runner,
) -> regwatch_status {
    guard(|| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        if n > 0 && (option_keys.is_null() || option_values.is_null()) {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let mut ec = EngineConfig::default();
        for i in 0..n {
            // SAFETY: `n` valid pointers to C strings per the contract.
            let (k, v) = unsafe {
                (
                    try_ffi!(req_str(*option_keys.add(i))),
                    try_ffi!(req_str(*option_values.add(i))),
                )
            };
            if let Err(e) = ec.set(k, v) {
                return super::config::config_status(e);
            }
        }
        // SAFETY: NULL or NUL-terminated per the contract.
        let ca = try_ffi!(unsafe { opt_str(ca_file) });
        // Without `on_log` the runner's logs go nowhere (not to a global
        // subscriber the host never set): with a dispatcher of its own the
        // runner thread also keeps a panic off the host's stderr.
        let logs = Some(on_log.map_or_else(tracing::Dispatch::none, |cb| {
            tracing::Dispatch::new(CallbackLogger::new(cb, userdata, max_level))
        }));
        let target = on_event.map(|cb| CallbackTarget { cb, userdata });
        let mut store = EventStore::default();
        let callback: crate::driver::OutputCallback = Box::new(move |engine, output| {
            if let Some(t) = &target {
                let rereg =
                    matches!(output, crate::core::Output::Action(_)).then_some(Reregister::Host);
                let rendered = render(engine, output, Origin::Other, rereg);
                let ev = event_of(output, engine.now_ms(), &rendered, &mut store);
                // SAFETY: the host's callback, called as documented; `ev`
                // and its strings live across the call.
                unsafe { (t.cb)(t.userdata, &ev) };
            }
        });
        let cfg = RunnerConfig {
            engine: ec,
            ca_file: ca.map(Into::into),
            logs,
            ..RunnerConfig::default()
        };
        match Runner::start(cfg, callback) {
            Ok(r) => {
                let h = regwatch_runner {
                    runner: Some(r),
                    poisoned: false,
                };
                // SAFETY: `out` is valid for one write per the contract.
                unsafe { put_box(out, h) }
            }
            Err(_) => regwatch_status::REGWATCH_STATUS_IO,
        }
    })
}

fn with_runner(
    r: *mut regwatch_runner,
    f: impl FnOnce(&Runner) -> regwatch_status,
) -> regwatch_status {
    with_handle(r, |h| match &h.runner {
        Some(runner) => f(runner),
        None => regwatch_status::REGWATCH_STATUS_POISONED,
    })
}

fn runner_status(e: crate::driver::RunnerError) -> regwatch_status {
    match e {
        crate::driver::RunnerError::Engine(_) => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
        crate::driver::RunnerError::Stopped => regwatch_status::REGWATCH_STATUS_POISONED,
    }
}

/// Adds a trunk (copied from `config`) to the runner; its probes start
/// within one interval.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_runner_add_trunk(
    runner: *mut regwatch_runner,
    config: *const regwatch_trunk_config,
) -> regwatch_status {
    with_runner(runner, |r| {
        if config.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live config per the contract, only read here.
        let cfg = unsafe { (*config).inner.clone() };
        match r.add_trunk(cfg) {
            Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
            Err(e) => runner_status(e),
        }
    })
}

/// Stops probing the trunk named `name`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_runner_remove_trunk(
    runner: *mut regwatch_runner,
    name: *const c_char,
) -> regwatch_status {
    with_runner(runner, |r| {
        // SAFETY: C string per the contract.
        let name = try_ffi!(unsafe { req_str(name) });
        match r.remove_trunk(name) {
            Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
            Err(crate::driver::RunnerError::Engine(_)) => {
                regwatch_status::REGWATCH_STATUS_NOT_FOUND
            }
            Err(e) => runner_status(e),
        }
    })
}

/// Writes the trunk's snapshot and diagnosis as JSON
/// (`{"snapshot":{...,"keepalive":{...}},"diagnosis":{...}}`) into `buf`;
/// `*out_len` gets the size needed. No secret appears in it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_runner_trunk_json(
    runner: *mut regwatch_runner,
    name: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_runner(runner, |r| {
        // SAFETY: C string per the contract.
        let name = try_ffi!(unsafe { req_str(name) });
        match r.snapshot(name) {
            Ok(Some((snapshot, diagnosis))) => {
                let json = serde_json::json!({ "snapshot": snapshot, "diagnosis": diagnosis });
                // SAFETY: buffers per the contract.
                unsafe { write_out(&json.to_string(), buf, len, out_len) }
            }
            Ok(None) => regwatch_status::REGWATCH_STATUS_NOT_FOUND,
            Err(e) => runner_status(e),
        }
    })
}

/// Writes into `*out` how many TCP/TLS connections to registrars the
/// runner has dropped since it started: 64 KiB without a complete SIP
/// message, bytes that are not SIP, or 64 KiB of requests left unread
/// (each also logged, and the trunk reads `protocol_error`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_runner_connections_dropped(
    runner: *mut regwatch_runner,
    out: *mut u64,
) -> regwatch_status {
    with_runner(runner, |r| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { *out = r.connections_dropped() };
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Stops the runner's thread (waiting for it), closes its sockets and
/// frees it. NULL is a no-op. No callback runs after it returns.
#[no_mangle]
pub unsafe extern "C" fn regwatch_runner_free(runner: *mut regwatch_runner) {
    // SAFETY: NULL or made by put_box in this module, freed once; the
    // drop stops the thread.
    unsafe { free_box(runner) };
}
