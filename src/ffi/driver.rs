//! The driver through the C ABI: the one-shot checks (blocking, thread-safe)
//! and the keep-alive runner (its own thread; events and logs reach C on
//! that thread).
use super::config::regwatch_trunk_config;
use super::engine::{
    event_of, probe_status, regwatch_engine, regwatch_event, regwatch_transport, trunk_id,
    with_engine, REGWATCH_TRANSPORT_TCP, REGWATCH_TRANSPORT_TLS, REGWATCH_TRANSPORT_UDP,
};
use super::log::{regwatch_log_callback, regwatch_log_level, CallbackLogger};
use super::{guard, opt_str, regwatch_status, req_str, try_ffi, write_out};
use crate::core::ProbeResult;
use crate::driver::{
    options, test_register, trunk_check, CheckOptions, Endpoint, Runner, RunnerConfig, TrunkCheck,
};
use crate::validate::Transport;
use crate::EngineConfig;
use std::ffi::{c_char, c_void, CString};
use std::time::Duration;

/// The result of a one-shot check: read it with `regwatch_check_json` and
/// `regwatch_check_cause`, free it with `regwatch_check_free`. Immutable;
/// may be read from any thread.
pub struct regwatch_check {
    json: String,
    text: String,
    cause: CString,
    /// OPTIONS checks: the probe result and its round trip (µs).
    probe: Option<(ProbeResult, Option<u64>)>,
}

/// A running keep-alive monitor (see `regwatch_runner_start`).
pub struct regwatch_runner {
    runner: Option<Runner>,
}

fn transport_of(t: regwatch_transport) -> Result<Transport, regwatch_status> {
    match t {
        REGWATCH_TRANSPORT_UDP => Ok(Transport::Udp),
        REGWATCH_TRANSPORT_TCP => Ok(Transport::Tcp),
        REGWATCH_TRANSPORT_TLS => Ok(Transport::Tls),
        _ => Err(regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT),
    }
}

/// # Safety
/// As for the exports that call it.
unsafe fn check_options(
    timeout_ms: u32,
    ca_file: *const c_char,
) -> Result<CheckOptions, regwatch_status> {
    // SAFETY: NULL or NUL-terminated per the contract.
    let ca = unsafe { opt_str(ca_file) }?;
    let mut o = CheckOptions::default();
    if timeout_ms > 0 {
        o.timeout = Duration::from_millis(u64::from(timeout_ms));
    }
    o.ca_file = ca.map(Into::into);
    o.check_ca_file()
        .map_err(|_| regwatch_status::REGWATCH_STATUS_IO)?;
    Ok(o)
}

fn finish(
    json: String,
    text: String,
    cause: &str,
    probe: Option<(ProbeResult, Option<u64>)>,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    let c = Box::new(regwatch_check {
        json,
        text,
        cause: CString::new(cause).unwrap_or_default(),
        probe,
    });
    // SAFETY: `out` is valid for one write per the contract.
    unsafe { out.write(Box::into_raw(c)) };
    regwatch_status::REGWATCH_STATUS_OK
}

/// One OPTIONS to `host`:`port` over `transport`, for `domain` (Request-URI
/// and, over TLS, the name the certificate must carry) as `user`. Blocks
/// until the answer or `timeout_ms` (0: 8 s; connect, TLS handshake,
/// request and answer all within it). `ca_file` (may be NULL): PEM CAs to
/// trust for TLS instead of the system's store; one that cannot be used
/// (missing, unreadable, no certificate in it) returns
/// `REGWATCH_STATUS_IO` and checks nothing. On OK, `*out` is a
/// new check whose JSON is `{"endpoint","result":{"result":"response","code":200},
/// "reason","server","rtt_ms","error"}` and whose cause is `healthy` for an
/// answer, else the network cause. Thread-safe.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_options(
    host: *const c_char,
    port: u16,
    transport: regwatch_transport,
    domain: *const c_char,
    user: *const c_char,
    timeout_ms: u32,
    ca_file: *const c_char,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    guard(|| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: C strings per the contract.
        let (host, domain, user) = unsafe {
            (
                try_ffi!(req_str(host)),
                try_ffi!(req_str(domain)),
                try_ffi!(req_str(user)),
            )
        };
        let transport = try_ffi!(transport_of(transport));
        // SAFETY: as above.
        let opts = try_ffi!(unsafe { check_options(timeout_ms, ca_file) });
        let ep = Endpoint {
            host: host.to_owned(),
            port,
            transport,
        };
        let o = options(&ep, domain, user, &opts);
        let cause = if o.result.class().reachable() {
            "healthy"
        } else {
            o.result.cause().map_or("unknown", |c| c.as_str())
        };
        let json = serde_json::to_string(&o).unwrap_or_else(|_| "{}".to_owned());
        let text = format!("OPTIONS to {}: {}\n", o.endpoint, o.summary());
        let probe = Some((o.result, o.rtt_ms.map(|ms| (ms * 1000.0) as u64)));
        finish(json, text, cause, probe, out)
    })
}

/// Keep-alive: reports the OPTIONS check `check` (from
/// `regwatch_check_options`, run by the host for a
/// `REGWATCH_EVENT_TRANSMIT`, typically an alternative transport the PBX
/// itself does not speak) as the result of probe `probe_id` of `trunk`,
/// as `regwatch_engine_probe_result` would. `INVALID_ARGUMENT` for a check
/// that is not an OPTIONS check; `DONE` for a probe no longer awaited.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_probe_check(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    probe_id: u64,
    check: *const regwatch_check,
) -> regwatch_status {
    if check.is_null() {
        return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: a live check per the contract, only read.
    let probe = unsafe { (*check).probe };
    with_engine(engine, |h| {
        let Some((result, rtt)) = probe else {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        };
        let id = try_ffi!(trunk_id(h, trunk));
        probe_status(
            h.engine
                .handle_probe_result(now_ms, id, probe_id, result, rtt),
        )
    })
}

/// The test REGISTER for `config` against `host`:`port` over `transport`
/// (the registrar, or the outbound proxy): REGISTER, the digest answer to a
/// 401/407, one retry with Min-Expires after a 423, then Expires: 0 unless
/// `stay_registered`. Blocks for the exchange (each request, with its
/// connect and TLS handshake, waits at most `timeout_ms`, 0: 8 s). An
/// unusable `ca_file`: `REGWATCH_STATUS_IO`, as for
/// `regwatch_check_options`. On OK, `*out` is a new check whose JSON is
/// `{"endpoint","steps":[{"request","code","reason","rtt_ms","note"}],
/// "state","cause","granted_expires","contact_bound","deregistered",
/// "diagnosis":{...}}`; never a password. Thread-safe (`config` is only read).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_register(
    config: *const regwatch_trunk_config,
    host: *const c_char,
    port: u16,
    transport: regwatch_transport,
    timeout_ms: u32,
    ca_file: *const c_char,
    stay_registered: bool,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    guard(|| {
        if out.is_null() || config.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live config per the contract, only read here.
        let cfg = unsafe { &(*config).inner };
        // SAFETY: C string per the contract.
        let host = try_ffi!(unsafe { req_str(host) });
        let transport = try_ffi!(transport_of(transport));
        // SAFETY: as above.
        let mut opts = try_ffi!(unsafe { check_options(timeout_ms, ca_file) });
        opts.stay_registered = stay_registered;
        let ep = Endpoint {
            host: host.to_owned(),
            port,
            transport,
        };
        let c = test_register(cfg, &ep, &opts);
        let json = serde_json::to_string(&c).unwrap_or_else(|_| "{}".to_owned());
        let text = TrunkCheck {
            trunk: cfg.name.to_string(),
            endpoint: Some(ep.to_string()),
            dns_error: None,
            options: None,
            diagnosis: c.diagnosis.clone(),
            register: Some(c.clone()),
        }
        .text();
        finish(json, text, c.cause.as_str(), None, out)
    })
}

/// The live check of a configured trunk, as a console's `check` command
/// runs it: where its requests go (RFC 3263, or its proxy), one OPTIONS
/// there, and the test REGISTER with its credentials (ended with
/// Expires: 0), summed up in one diagnosis. Blocks for DNS and the
/// exchanges (each request, with its connect and TLS handshake, waits at
/// most `timeout_ms`, 0: 8 s). An unusable `ca_file`:
/// `REGWATCH_STATUS_IO`, as for `regwatch_check_options`. On OK,
/// `*out` is a new check: JSON `{"trunk","endpoint","dns_error","options",
/// "register","diagnosis"}`, console text from `regwatch_check_text`, never
/// a password. Thread-safe (`config` is only read).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_trunk(
    config: *const regwatch_trunk_config,
    timeout_ms: u32,
    ca_file: *const c_char,
    out: *mut *mut regwatch_check,
) -> regwatch_status {
    guard(|| {
        if out.is_null() || config.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live config per the contract, only read here.
        let cfg = unsafe { &(*config).inner };
        // SAFETY: C string per the contract.
        let opts = try_ffi!(unsafe { check_options(timeout_ms, ca_file) });
        let c = trunk_check(cfg, &opts);
        let json = serde_json::to_string(&c).unwrap_or_else(|_| "{}".to_owned());
        finish(json, c.text(), c.diagnosis.cause.as_str(), None, out)
    })
}

/// Writes the check as console text (several lines, each ending in `\n`)
/// into `buf`; `*out_len` gets the size needed (also on
/// `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_text(
    check: *const regwatch_check,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    // SAFETY: per the contract of this export.
    unsafe { write_check(check, |c| &c.text, buf, len, out_len) }
}

/// Writes one text of a check into a caller's buffer.
///
/// # Safety
/// `check` is NULL or a live check; `buf`/`len`/`out_len` as for
/// `write_out`.
unsafe fn write_check(
    check: *const regwatch_check,
    field: fn(&regwatch_check) -> &String,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    guard(|| {
        if check.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live check per the contract; buffers per the contract.
        unsafe { write_out(field(&*check), buf, len, out_len) }
    })
}

/// Writes the check's JSON into `buf` (NUL-terminated); `*out_len` gets
/// the size needed (also on `REGWATCH_STATUS_BUFFER_TOO_SMALL`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_check_json(
    check: *const regwatch_check,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    // SAFETY: per the contract of this export.
    unsafe { write_check(check, |c| &c.json, buf, len, out_len) }
}

/// The check's cause id (`healthy`, `credentials_rejected`, ...), valid
/// until the check is freed; "" for NULL.
#[no_mangle]
pub unsafe extern "C" fn regwatch_check_cause(check: *const regwatch_check) -> *const c_char {
    if check.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: a live check per the contract.
    unsafe { (*check).cause.as_ptr() }
}

/// Frees a check. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn regwatch_check_free(check: *mut regwatch_check) {
    if !check.is_null() {
        // SAFETY: made by Box::into_raw in this module, freed once.
        let _ = crate::quiet_panic::catch(|| drop(unsafe { Box::from_raw(check) }));
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
        let mut strings: Vec<CString> = Vec::new();
        let callback: crate::driver::OutputCallback = Box::new(move |engine, output| {
            if let Some(t) = &target {
                let ev = event_of(output, engine.now_ms(), &mut strings);
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
                let h = Box::new(regwatch_runner { runner: Some(r) });
                // SAFETY: `out` is valid for one write per the contract.
                unsafe { out.write(Box::into_raw(h)) };
                regwatch_status::REGWATCH_STATUS_OK
            }
            Err(_) => regwatch_status::REGWATCH_STATUS_IO,
        }
    })
}

fn with_runner(
    r: *mut regwatch_runner,
    f: impl FnOnce(&Runner) -> regwatch_status,
) -> regwatch_status {
    guard(|| {
        if r.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: a live runner per the contract (calls on it serialised
        // by the host, or made from one thread).
        match unsafe { &(*r).runner } {
            Some(runner) => f(runner),
            None => regwatch_status::REGWATCH_STATUS_POISONED,
        }
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

/// Stops the runner's thread (waiting for it), closes its sockets and
/// frees it. NULL is a no-op. No callback runs after it returns.
#[no_mangle]
pub unsafe extern "C" fn regwatch_runner_free(runner: *mut regwatch_runner) {
    if runner.is_null() {
        return;
    }
    let _ = crate::quiet_panic::catch(|| {
        // SAFETY: made by Box::into_raw in this module, freed once.
        let mut h = unsafe { Box::from_raw(runner) };
        if let Some(r) = h.runner.take() {
            r.stop();
        }
    });
}
