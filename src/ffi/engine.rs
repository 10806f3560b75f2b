//! `regwatch_engine`: the sans-IO engine behind the C ABI.
use super::config::{config_status, regwatch_trunk_config};
use super::log::{regwatch_log_callback, regwatch_log_level, CallbackLogger};
use super::{opt_str, regwatch_status, req_str, try_ffi, write_out};
use crate::core::{
    render_trunk_json, render_trunk_text, Action, Challenge, Engine, EngineConfig, Event,
    HostState, Observation, Output, ProbeResult, RegisterResponse, RegisterSent,
    TransportErrorKind, TrunkId, TwilioError,
};
use crate::validate::Transport;
use std::ffi::{c_char, c_void, CString};
use std::ptr;

/// The sans-IO engine (a Box).
///
/// **Not thread-safe.** It may be moved between threads, but the caller
/// must serialise every call on one engine (Asterisk: one serializer or one
/// lock; FreeSWITCH: one mutex or the runtime thread). Different engines are
/// independent. Callbacks run synchronously on the calling thread, during
/// `regwatch_engine_*` calls only, and must not call back into the same
/// engine.
///
/// The run loop: after any input (an observation, `handle_timeout`,
/// add/update/remove trunk), drain `regwatch_engine_poll_event` until it
/// returns `REGWATCH_STATUS_DONE`, then re-arm one timer at the deadline
/// from `regwatch_engine_poll_timeout`.
pub struct regwatch_engine {
    pub(crate) engine: Engine,
    poisoned: bool,
    logger: Option<tracing::Dispatch>,
    /// Backing storage for the strings of the last polled event.
    event_strings: Vec<CString>,
    /// What the Asterisk and FreeSWITCH adapters remember.
    pub(crate) hosts: super::hosts::HostContext,
}

/// A transport, as passed to observation functions.
pub type regwatch_transport = u32;
/// Not known.
pub const REGWATCH_TRANSPORT_UNKNOWN: regwatch_transport = 0;
/// UDP.
pub const REGWATCH_TRANSPORT_UDP: regwatch_transport = 1;
/// TCP.
pub const REGWATCH_TRANSPORT_TCP: regwatch_transport = 2;
/// TLS.
pub const REGWATCH_TRANSPORT_TLS: regwatch_transport = 3;

/// What kind of delivery failure `regwatch_engine_transport_error` reports.
pub type regwatch_transport_error = u32;
/// ICMP port unreachable or TCP RST: nothing listens.
pub const REGWATCH_TRANSPORT_ERROR_REFUSED: regwatch_transport_error = 1;
/// No route to host, network unreachable.
pub const REGWATCH_TRANSPORT_ERROR_UNREACHABLE: regwatch_transport_error = 2;
/// The name did not resolve.
pub const REGWATCH_TRANSPORT_ERROR_DNS: regwatch_transport_error = 3;
/// TLS handshake or certificate failure.
pub const REGWATCH_TRANSPORT_ERROR_TLS: regwatch_transport_error = 4;
/// The peer's bytes are not SIP (more than 64 KiB without a complete
/// message, or a message that does not parse); the connection was dropped.
pub const REGWATCH_TRANSPORT_ERROR_PROTOCOL: regwatch_transport_error = 5;

fn transport_error_kind(kind: regwatch_transport_error) -> Option<TransportErrorKind> {
    Some(match kind {
        REGWATCH_TRANSPORT_ERROR_REFUSED => TransportErrorKind::Refused,
        REGWATCH_TRANSPORT_ERROR_UNREACHABLE => TransportErrorKind::Unreachable,
        REGWATCH_TRANSPORT_ERROR_DNS => TransportErrorKind::Dns,
        REGWATCH_TRANSPORT_ERROR_TLS => TransportErrorKind::Tls,
        REGWATCH_TRANSPORT_ERROR_PROTOCOL => TransportErrorKind::Protocol,
        _ => return None,
    })
}

/// A state reported by the host itself, without SIP detail.
pub type regwatch_host_state = u32;
/// The host says the trunk is registered.
pub const REGWATCH_HOST_REGISTERED: regwatch_host_state = 1;
/// The host says it is not registered (and will retry).
pub const REGWATCH_HOST_UNREGISTERED: regwatch_host_state = 2;
/// The host says the registrar rejected it (no code).
pub const REGWATCH_HOST_REJECTED: regwatch_host_state = 3;
/// The host stopped retrying.
pub const REGWATCH_HOST_GAVE_UP: regwatch_host_state = 4;

/// What a `regwatch_event` is.
pub type regwatch_event_kind = u32;
/// The trunk's state or cause changed.
pub const REGWATCH_EVENT_STATE_CHANGED: regwatch_event_kind = 1;
/// An alert was raised (or re-raised with a new cause).
pub const REGWATCH_EVENT_ALERT_RAISED: regwatch_event_kind = 2;
/// The alert is over.
pub const REGWATCH_EVENT_ALERT_CLEARED: regwatch_event_kind = 3;
/// A configuration finding (on add/update).
pub const REGWATCH_EVENT_FINDING: regwatch_event_kind = 4;
/// The host should re-send REGISTER for the trunk now.
pub const REGWATCH_EVENT_ACTION_REREGISTER: regwatch_event_kind = 5;
/// Keep-alive on: send an OPTIONS probe to `probe_host`:`probe_port` over
/// `probe_transport` (Request-URI `sip:<domain>`, see `json`), then report
/// it with `regwatch_engine_probe_result` and `probe_id`.
pub const REGWATCH_EVENT_TRANSMIT: regwatch_event_kind = 6;

/// What became of a keep-alive probe.
pub type regwatch_probe_outcome = u32;
/// A final response from the peer (`code`).
pub const REGWATCH_PROBE_RESPONSE: regwatch_probe_outcome = 1;
/// A final response made up by the host's own SIP stack (a local 408/503).
pub const REGWATCH_PROBE_LOCAL_RESPONSE: regwatch_probe_outcome = 2;
/// No answer in time.
pub const REGWATCH_PROBE_TIMEOUT: regwatch_probe_outcome = 3;
/// The transport failed (`transport_error` = `REGWATCH_TRANSPORT_ERROR_*`).
pub const REGWATCH_PROBE_TRANSPORT_ERROR: regwatch_probe_outcome = 4;

/// A response to a REGISTER, as the host saw it. Initialise with
/// `regwatch_register_response_init` (which sets `struct_size` and marks
/// every optional field absent), then fill what is known. Strings are
/// borrowed for the call only; NULL means absent.
#[repr(C)]
pub struct regwatch_register_response {
    /// `sizeof(regwatch_register_response)`, so fields can be added later.
    pub struct_size: u32,
    /// The status code (100..699). Provisional codes are ignored.
    pub code: u16,
    /// The reason phrase, or NULL.
    pub reason: *const c_char,
    /// Granted expiry in seconds (our Contact's `expires`, else the Expires
    /// header); negative when absent.
    pub granted_expires: i64,
    /// Whether our Contact is listed in a 2xx: 1 yes, 0 no, -1 unknown.
    pub contact_bound: i32,
    /// The challenge realm of a 401/407, or NULL when there was none.
    pub challenge_realm: *const c_char,
    /// The challenge algorithm, or NULL (MD5).
    pub challenge_algorithm: *const c_char,
    /// The challenge qop options, or NULL.
    pub challenge_qop: *const c_char,
    /// Whether the challenge said `stale=true`.
    pub challenge_stale: bool,
    /// `Min-Expires` of a 423; negative when absent.
    pub min_expires: i64,
    /// `Retry-After` in seconds; negative when absent.
    pub retry_after: i64,
    /// The `X-Twilio-Error` code; 0 when absent.
    pub twilio_error_code: u32,
    /// The `X-Twilio-Error` text, or NULL.
    pub twilio_error_text: *const c_char,
    /// The `Server` header, or NULL.
    pub server: *const c_char,
    /// The transport it arrived on (`REGWATCH_TRANSPORT_*`).
    pub transport: regwatch_transport,
}

/// One output of the engine. Every pointer in it is owned by the engine and
/// valid until the next call on that engine; copy what you keep.
#[repr(C)]
pub struct regwatch_event {
    /// `REGWATCH_EVENT_*`.
    pub kind: regwatch_event_kind,
    /// The trunk's name.
    pub trunk: *const c_char,
    /// When, on the engine's clock (milliseconds).
    pub at_ms: u64,
    /// The state now (`registered`, `rejected`, ...), or "" for findings and actions.
    pub state: *const c_char,
    /// The state before (state changes only), or "".
    pub previous_state: *const c_char,
    /// The cause id (`credentials_rejected`, ...), or the finding code for findings.
    pub cause: *const c_char,
    /// `info`, `warning` or `error` (alerts and findings), or "".
    pub severity: *const c_char,
    /// The SIP status code behind it, or 0.
    pub code: u16,
    /// The alert summary, the finding's message and fix, or "".
    pub summary: *const c_char,
    /// The whole event as a JSON object.
    pub json: *const c_char,
    /// Transmits: the probe's id (pass it to `regwatch_engine_probe_result`); else 0.
    pub probe_id: u64,
    /// Transmits: the host name or address to send to; else "".
    pub probe_host: *const c_char,
    /// Transmits: the port; else 0.
    pub probe_port: u16,
    /// Transmits: `REGWATCH_TRANSPORT_*`; else 0.
    pub probe_transport: regwatch_transport,
    /// Transmits: when the engine counts the probe as timed out; else 0.
    pub probe_deadline_ms: u64,
}

/// Fills `resp` with defaults: `struct_size` set, code 0, every optional
/// field absent. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn regwatch_register_response_init(resp: *mut regwatch_register_response) {
    if resp.is_null() {
        return;
    }
    // SAFETY: `resp` is valid for one write per the contract.
    unsafe {
        resp.write(regwatch_register_response {
            struct_size: std::mem::size_of::<regwatch_register_response>() as u32,
            code: 0,
            reason: ptr::null(),
            granted_expires: -1,
            contact_bound: -1,
            challenge_realm: ptr::null(),
            challenge_algorithm: ptr::null(),
            challenge_qop: ptr::null(),
            challenge_stale: false,
            min_expires: -1,
            retry_after: -1,
            twilio_error_code: 0,
            twilio_error_text: ptr::null(),
            server: ptr::null(),
            transport: REGWATCH_TRANSPORT_UNKNOWN,
        })
    };
}

fn transport_arg(t: regwatch_transport) -> Result<Option<Transport>, regwatch_status> {
    match t {
        REGWATCH_TRANSPORT_UNKNOWN => Ok(None),
        REGWATCH_TRANSPORT_UDP => Ok(Some(Transport::Udp)),
        REGWATCH_TRANSPORT_TCP => Ok(Some(Transport::Tcp)),
        REGWATCH_TRANSPORT_TLS => Ok(Some(Transport::Tls)),
        _ => Err(regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT),
    }
}

fn transport_code(t: Transport) -> regwatch_transport {
    match t {
        Transport::Udp => REGWATCH_TRANSPORT_UDP,
        Transport::Tcp => REGWATCH_TRANSPORT_TCP,
        Transport::Tls => REGWATCH_TRANSPORT_TLS,
    }
}

fn expiry_arg(v: i64) -> Result<Option<u32>, regwatch_status> {
    if v < 0 {
        Ok(None)
    } else {
        u32::try_from(v)
            .map(Some)
            .map_err(|_| regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT)
    }
}

/// Runs `f` on the engine behind `e`: NULL and poison checks, the engine's
/// log dispatcher, panic capture (which poisons the handle and logs the
/// panic through the engine's log callback, never on stderr).
pub(crate) fn with_engine(
    e: *mut regwatch_engine,
    f: impl FnOnce(&mut regwatch_engine) -> regwatch_status,
) -> regwatch_status {
    if e.is_null() {
        return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `e` came from regwatch_engine_new and the caller serialises
    // calls on it, so this is the only reference for the call's duration.
    let h = unsafe { &mut *e };
    if h.poisoned {
        return regwatch_status::REGWATCH_STATUS_POISONED;
    }
    let logger = h.logger.clone();
    let result = crate::quiet_panic::catch(|| match &logger {
        Some(d) => tracing::dispatcher::with_default(d, || f(h)),
        None => f(h),
    });
    match result {
        Ok(s) => s,
        Err(panic) => {
            // SAFETY: as above; the closure's borrow ended with the panic.
            unsafe { (*e).poisoned = true };
            if let Some(d) = &logger {
                // Caught too: nothing may unwind out of an export.
                let _ = crate::quiet_panic::catch(|| {
                    tracing::dispatcher::with_default(d, || {
                        tracing::error!(
                            "internal error, the engine is now poisoned: panicked: {panic}"
                        )
                    })
                });
            }
            regwatch_status::REGWATCH_STATUS_PANIC
        }
    }
}

/// The status of a probe result handed to the engine: OK when it was
/// awaited, DONE when it no longer was.
pub(crate) fn probe_status(r: Result<bool, crate::core::Error>) -> regwatch_status {
    match r {
        Ok(true) => regwatch_status::REGWATCH_STATUS_OK,
        Ok(false) => regwatch_status::REGWATCH_STATUS_DONE,
        Err(e) => engine_err(e),
    }
}

pub(crate) fn trunk_id(
    h: &regwatch_engine,
    name: *const c_char,
) -> Result<TrunkId, regwatch_status> {
    // SAFETY: C string per the contract of the calling export.
    let name = unsafe { req_str(name) }?;
    h.engine
        .find_trunk(name)
        .ok_or(regwatch_status::REGWATCH_STATUS_NOT_FOUND)
}

pub(crate) fn engine_err(e: crate::core::Error) -> regwatch_status {
    match e {
        crate::core::Error::UnknownTrunk => regwatch_status::REGWATCH_STATUS_NOT_FOUND,
        crate::core::Error::DuplicateName(_) => regwatch_status::REGWATCH_STATUS_ALREADY_EXISTS,
        crate::core::Error::MissingName => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
    }
}

fn observe(
    h: &mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    obs: Observation<'_>,
) -> regwatch_status {
    let id = try_ffi!(trunk_id(h, trunk));
    match h.engine.handle_observation(now_ms, id, obs) {
        Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
        Err(e) => engine_err(e),
    }
}

/// Creates an engine. `now_ms` is the current time on a monotonic clock of
/// the host's choice (every later `now_ms` must use the same clock);
/// `seed` feeds the engine's jitter. On OK, `*out` owns the engine; free it
/// with `regwatch_engine_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_new(
    now_ms: u64,
    seed: u64,
    out: *mut *mut regwatch_engine,
) -> regwatch_status {
    super::guard(|| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let h = Box::new(regwatch_engine {
            engine: Engine::new(EngineConfig::default(), now_ms, seed),
            poisoned: false,
            logger: None,
            event_strings: Vec::new(),
            hosts: Default::default(),
        });
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { *out = Box::into_raw(h) };
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Frees an engine (poisoned or not). NULL is ignored. Pointers from
/// `regwatch_engine_poll_event` become invalid.
#[no_mangle]
pub unsafe extern "C" fn regwatch_engine_free(engine: *mut regwatch_engine) {
    let _ = super::guard(|| {
        if !engine.is_null() {
            // SAFETY: `engine` came from Box::into_raw in regwatch_engine_new.
            drop(unsafe { Box::from_raw(engine) });
        }
        regwatch_status::REGWATCH_STATUS_OK
    });
}

/// Sets an engine-wide policy option: `history_len` (1..4096, default 32),
/// `refresh_ratio` (0..1, default 0.5), `refresh_grace_ms` (default 30000),
/// `drift_ratio` (default 0.9), `challenges_before_rejection` (default 2).
/// Applies to bindings made from then on.
///
/// Keep-alive (OPTIONS probes, emitted as `REGWATCH_EVENT_TRANSMIT`):
/// `keepalive` (`on`/`off`, default off: turn it on only if the host sends
/// the transmits), `keepalive_interval_ms` (default 60000),
/// `keepalive_timeout_ms` (5000), `keepalive_failures_to_alert` (2),
/// `keepalive_successes_to_clear` (1), `keepalive_confirm_ms` (5000),
/// `keepalive_jitter` (0..0.5, default 0.1), `keepalive_alternates`
/// (`on`/`off`, default on). Applies at once to every trunk.
///
/// `profile` (`twilio`/`generic`/`auto`, default auto): the profile of
/// trunks read from a PBX configuration (`regwatch_engine_asterisk_*`,
/// `regwatch_engine_freeswitch_*`), applied at their next sync.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_set_option(
    engine: *mut regwatch_engine,
    key: *const c_char,
    value: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C strings per the contract.
        let key = try_ffi!(unsafe { req_str(key) });
        let value = try_ffi!(unsafe { req_str(value) });
        let mut cfg = h.engine.config().clone();
        match cfg.set(key, value) {
            Ok(()) => {
                h.engine.set_config(cfg);
                regwatch_status::REGWATCH_STATUS_OK
            }
            Err(e) => config_status(e),
        }
    })
}

/// Installs (or, with `callback` NULL, removes) the engine's log callback.
/// Only messages at `max_level` or more severe are delivered
/// (`REGWATCH_LOG_ERROR` .. `REGWATCH_LOG_TRACE`). `userdata` is passed back
/// untouched and must outlive the engine (or the next call to this
/// function). The callback runs on the calling thread during
/// `regwatch_engine_*` calls and must not call into the same engine.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_set_log_callback(
    engine: *mut regwatch_engine,
    callback: regwatch_log_callback,
    userdata: *mut c_void,
    max_level: regwatch_log_level,
) -> regwatch_status {
    with_engine(engine, |h| {
        h.logger =
            callback.map(|cb| tracing::Dispatch::new(CallbackLogger::new(cb, userdata, max_level)));
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Adds a trunk; `cfg` (which must have a `name`) is copied and stays the
/// caller's. Validation findings come out as `REGWATCH_EVENT_FINDING`
/// events. Returns `REGWATCH_STATUS_ALREADY_EXISTS` for a taken name and
/// `REGWATCH_STATUS_INVALID_ARGUMENT` for a missing name.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_add_trunk(
    engine: *mut regwatch_engine,
    now_ms: u64,
    cfg: *const regwatch_trunk_config,
) -> regwatch_status {
    with_engine(engine, |h| {
        if cfg.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `cfg` came from regwatch_trunk_config_new.
        let cfg = unsafe { &*cfg };
        match h.engine.add_trunk(now_ms, cfg.inner.clone()) {
            Ok(_) => regwatch_status::REGWATCH_STATUS_OK,
            Err(e) => engine_err(e),
        }
    })
}

/// Replaces the configuration of trunk `trunk` (a different `name` in
/// `cfg` renames it). History and state are kept; findings are emitted again.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_update_trunk(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    cfg: *const regwatch_trunk_config,
) -> regwatch_status {
    with_engine(engine, |h| {
        let id = try_ffi!(trunk_id(h, trunk));
        if cfg.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `cfg` came from regwatch_trunk_config_new.
        let mut inner = unsafe { &*cfg }.inner.clone();
        if inner.name.is_empty() {
            inner.name = h
                .engine
                .trunk_config(id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
        }
        match h.engine.update_trunk(now_ms, id, inner) {
            Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
            Err(e) => engine_err(e),
        }
    })
}

/// Removes a trunk (an alert still raised is cleared with an event).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_remove_trunk(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        let id = try_ffi!(trunk_id(h, trunk));
        match h.engine.remove_trunk(now_ms, id) {
            Ok(()) => regwatch_status::REGWATCH_STATUS_OK,
            Err(e) => engine_err(e),
        }
    })
}

/// Observation: the host sent a REGISTER for `trunk`. `expires` is the
/// requested expiry in seconds (0 = deregistration; negative = unknown);
/// `with_credentials` whether it carried Authorization/Proxy-Authorization.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_register_sent(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    expires: i64,
    with_credentials: bool,
    transport: regwatch_transport,
) -> regwatch_status {
    with_engine(engine, |h| {
        let transport = try_ffi!(transport_arg(transport));
        let expires = try_ffi!(expiry_arg(expires));
        observe(
            h,
            now_ms,
            trunk,
            Observation::RegisterSent(RegisterSent {
                expires,
                with_credentials,
                transport,
            }),
        )
    })
}

/// Observation: a response to the last REGISTER of `trunk` (see
/// `regwatch_register_response`). `resp->struct_size` must be at least
/// the size of the fields this library knows; initialise with
/// `regwatch_register_response_init`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_register_response(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    resp: *const regwatch_register_response,
) -> regwatch_status {
    with_engine(engine, |h| {
        if resp.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `resp` points to an initialised struct per the contract.
        let r = unsafe { &*resp };
        if (r.struct_size as usize) < std::mem::size_of::<regwatch_register_response>() {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        }
        if !(100..=699).contains(&r.code) {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        }
        // SAFETY (all strings below): NULL or NUL-terminated per the contract.
        let reason = try_ffi!(unsafe { opt_str(r.reason) }).unwrap_or("");
        let realm = try_ffi!(unsafe { opt_str(r.challenge_realm) });
        let algorithm = try_ffi!(unsafe { opt_str(r.challenge_algorithm) });
        let qop = try_ffi!(unsafe { opt_str(r.challenge_qop) });
        let twilio_text = try_ffi!(unsafe { opt_str(r.twilio_error_text) }).unwrap_or("");
        let server = try_ffi!(unsafe { opt_str(r.server) });
        let obs = RegisterResponse {
            code: r.code,
            reason,
            granted_expires: try_ffi!(expiry_arg(r.granted_expires)),
            contact_bound: match r.contact_bound {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
            challenge: realm.map(|realm| Challenge {
                realm,
                algorithm,
                qop,
                stale: r.challenge_stale,
            }),
            min_expires: try_ffi!(expiry_arg(r.min_expires)),
            retry_after: try_ffi!(expiry_arg(r.retry_after)),
            twilio_error: (r.twilio_error_code != 0).then_some(TwilioError {
                code: r.twilio_error_code,
                text: twilio_text,
            }),
            server,
            transport: try_ffi!(transport_arg(r.transport)),
        };
        observe(h, now_ms, trunk, Observation::RegisterResponse(obs))
    })
}

/// Observation: the last REGISTER of `trunk` got no answer.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_register_timeout(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    transport: regwatch_transport,
) -> regwatch_status {
    with_engine(engine, |h| {
        let transport = try_ffi!(transport_arg(transport));
        observe(h, now_ms, trunk, Observation::RegisterTimeout { transport })
    })
}

/// Observation: the last REGISTER of `trunk` could not be delivered
/// (`REGWATCH_TRANSPORT_ERROR_*`). `detail` (may be NULL) is free text such
/// as the name that failed to resolve.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_transport_error(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    transport: regwatch_transport,
    kind: regwatch_transport_error,
    detail: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        let transport = try_ffi!(transport_arg(transport));
        let Some(kind) = transport_error_kind(kind) else {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        };
        // SAFETY: NULL or NUL-terminated per the contract.
        let detail = try_ffi!(unsafe { opt_str(detail) });
        observe(
            h,
            now_ms,
            trunk,
            Observation::TransportError {
                transport,
                kind,
                detail,
            },
        )
    })
}

/// Keep-alive: what became of the probe `probe_id` of `trunk` (from a
/// `REGWATCH_EVENT_TRANSMIT`). `code` is the status for
/// `REGWATCH_PROBE_RESPONSE` / `_LOCAL_RESPONSE`; `transport_error` is a
/// `REGWATCH_TRANSPORT_ERROR_*` for `REGWATCH_PROBE_TRANSPORT_ERROR`
/// (else ignored); `rtt_us` is the measured round trip, or negative to let
/// the engine compute it from `now_ms`. Returns `REGWATCH_STATUS_DONE` for
/// a probe no longer awaited (already timed out or answered).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_probe_result(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    probe_id: u64,
    outcome: regwatch_probe_outcome,
    code: u16,
    transport_error: regwatch_transport_error,
    rtt_us: i64,
) -> regwatch_status {
    with_engine(engine, |h| {
        let id = try_ffi!(trunk_id(h, trunk));
        let result = match outcome {
            REGWATCH_PROBE_RESPONSE | REGWATCH_PROBE_LOCAL_RESPONSE
                if !(100..=699).contains(&code) =>
            {
                return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT
            }
            REGWATCH_PROBE_RESPONSE => ProbeResult::Response { code },
            REGWATCH_PROBE_LOCAL_RESPONSE => ProbeResult::LocalResponse { code },
            REGWATCH_PROBE_TIMEOUT => ProbeResult::Timeout,
            REGWATCH_PROBE_TRANSPORT_ERROR => match transport_error_kind(transport_error) {
                Some(kind) => ProbeResult::TransportError { kind },
                None => return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
            },
            _ => return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
        };
        let rtt = u64::try_from(rtt_us).ok();
        probe_status(
            h.engine
                .handle_probe_result(now_ms, id, probe_id, result, rtt),
        )
    })
}

/// Observation: the binding of `trunk` was removed on purpose (Expires: 0
/// answered 2xx, or the host unregistered).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_deregistered(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        observe(h, now_ms, trunk, Observation::Deregistered)
    })
}

/// Observation: the host reports a state for `trunk` without SIP detail
/// (`REGWATCH_HOST_*`). `detail` may be NULL.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_host_state(
    engine: *mut regwatch_engine,
    now_ms: u64,
    trunk: *const c_char,
    state: regwatch_host_state,
    detail: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        let state = match state {
            REGWATCH_HOST_REGISTERED => HostState::Registered,
            REGWATCH_HOST_UNREGISTERED => HostState::Unregistered,
            REGWATCH_HOST_REJECTED => HostState::Rejected,
            REGWATCH_HOST_GAVE_UP => HostState::GaveUp,
            _ => return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
        };
        // SAFETY: NULL or NUL-terminated per the contract.
        let detail = try_ffi!(unsafe { opt_str(detail) });
        observe(h, now_ms, trunk, Observation::HostState { state, detail })
    })
}

/// Fires every timer due at or before `now_ms` (refresh checks, expiry).
/// Calling it early or late is harmless.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_handle_timeout(
    engine: *mut regwatch_engine,
    now_ms: u64,
) -> regwatch_status {
    with_engine(engine, |h| {
        h.engine.handle_timeout(now_ms);
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Writes the next deadline (absolute, on the host's clock) to
/// `*out_deadline_ms` and returns OK, or returns `REGWATCH_STATUS_DONE`
/// when no timer is armed (nothing is written).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_poll_timeout(
    engine: *mut regwatch_engine,
    out_deadline_ms: *mut u64,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out_deadline_ms.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        match h.engine.poll_timeout() {
            Some(at) => {
                // SAFETY: valid for one write per the contract.
                unsafe { *out_deadline_ms = at };
                regwatch_status::REGWATCH_STATUS_OK
            }
            None => regwatch_status::REGWATCH_STATUS_DONE,
        }
    })
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Converts one engine output into a `regwatch_event` whose strings live
/// in `strings` (cleared first).
pub(crate) fn event_of(output: &Output, now_ms: u64, strings: &mut Vec<CString>) -> regwatch_event {
    let json = serde_json::to_string(&output).unwrap_or_else(|_| "{}".to_owned());
    let empty = "";
    let (kind, trunk, at_ms, state, prev, cause, severity, code, summary): (
        u32,
        &str,
        u64,
        &str,
        &str,
        &str,
        &str,
        u16,
        String,
    ) = match &output {
        Output::Event(Event::StateChanged {
            name,
            at_ms,
            from,
            to,
            cause,
            code,
            ..
        }) => (
            REGWATCH_EVENT_STATE_CHANGED,
            name,
            *at_ms,
            to.as_str(),
            from.as_str(),
            cause.as_str(),
            cause.severity().as_str(),
            code.unwrap_or(0),
            String::new(),
        ),
        Output::Event(Event::AlertRaised {
            name,
            at_ms,
            cause,
            severity,
            state,
            code,
            summary,
            ..
        }) => (
            REGWATCH_EVENT_ALERT_RAISED,
            name,
            *at_ms,
            state.as_str(),
            empty,
            cause.as_str(),
            severity.as_str(),
            code.unwrap_or(0),
            summary.clone(),
        ),
        Output::Event(Event::AlertCleared {
            name,
            at_ms,
            cause,
            state,
            ..
        }) => (
            REGWATCH_EVENT_ALERT_CLEARED,
            name,
            *at_ms,
            state.as_str(),
            empty,
            cause.as_str(),
            empty,
            0,
            String::new(),
        ),
        Output::Event(Event::Finding { name, finding, .. }) => (
            REGWATCH_EVENT_FINDING,
            name,
            now_ms,
            empty,
            empty,
            finding.code,
            finding.severity.as_str(),
            0,
            format!("{} Fix: {}", finding.message, finding.fix),
        ),
        Output::Action(Action::ReRegister { name, .. }) => (
            REGWATCH_EVENT_ACTION_REREGISTER,
            name,
            now_ms,
            empty,
            empty,
            empty,
            empty,
            0,
            String::new(),
        ),
        Output::Transmit(p) => (
            REGWATCH_EVENT_TRANSMIT,
            &p.target.name,
            p.at_ms,
            empty,
            empty,
            empty,
            empty,
            0,
            String::new(),
        ),
    };
    let probe = match &output {
        Output::Transmit(p) => Some((
            p.id,
            p.target.host.clone(),
            p.port,
            transport_code(p.transport),
            p.deadline_ms,
        )),
        _ => None,
    };
    strings.clear();
    for s in [
        trunk,
        state,
        prev,
        cause,
        severity,
        summary.as_str(),
        json.as_str(),
        probe.as_ref().map_or("", |p| p.1.as_str()),
    ] {
        strings.push(cstring(s));
    }
    let p = |i: usize| strings[i].as_ptr();
    regwatch_event {
        kind,
        trunk: p(0),
        at_ms,
        state: p(1),
        previous_state: p(2),
        cause: p(3),
        severity: p(4),
        code,
        summary: p(5),
        json: p(6),
        probe_id: probe.as_ref().map_or(0, |p| p.0),
        probe_host: p(7),
        probe_port: probe.as_ref().map_or(0, |p| p.2),
        probe_transport: probe.as_ref().map_or(0, |p| p.3),
        probe_deadline_ms: probe.as_ref().map_or(0, |p| p.4),
    }
}

/// Takes the next output and fills `*out` (returns OK), or returns
/// `REGWATCH_STATUS_DONE` when there is none. The strings in `*out` belong
/// to the engine and stay valid until the next call on this engine.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_poll_event(
    engine: *mut regwatch_engine,
    out: *mut regwatch_event,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let Some(output) = h.engine.poll_output() else {
            return regwatch_status::REGWATCH_STATUS_DONE;
        };
        let ev = event_of(&output, h.engine.now_ms(), &mut h.event_strings);
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { out.write(ev) };
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Writes the trunk as JSON (state, cause, summary, evidence, remediation,
/// references, confidence, findings, history, timings) into `buf`,
/// NUL-terminated; `*out_len` gets the size needed (also on
/// `REGWATCH_STATUS_BUFFER_TOO_SMALL`). No secret appears in it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_trunk_json(
    engine: *mut regwatch_engine,
    trunk: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let id = try_ffi!(trunk_id(h, trunk));
        let s = try_ffi!(render_trunk_json(&h.engine, id).map_err(engine_err));
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}

/// Writes the same as `regwatch_engine_trunk_json`, as plain text for a
/// PBX console (several lines, each ending in `\n`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_trunk_text(
    engine: *mut regwatch_engine,
    trunk: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let id = try_ffi!(trunk_id(h, trunk));
        let s = try_ffi!(render_trunk_text(&h.engine, id).map_err(engine_err));
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}

/// Writes a JSON array with one summary object per trunk (name, state,
/// cause, alerting, last_code, expires_in_ms, findings count, summary), for
/// `show trunks`-style listings. Output as for `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_trunks_json(
    engine: *mut regwatch_engine,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let list: Vec<serde_json::Value> = h
            .engine
            .trunk_ids()
            .filter_map(|id| h.engine.snapshot(id).ok().map(|s| (id, s)))
            .map(|(id, s)| {
                serde_json::json!({
                    "name": s.name,
                    "state": s.state,
                    "cause": s.cause,
                    "alerting": s.alerting,
                    "last_code": s.last_code,
                    "expires_in_ms": s.expires_in_ms,
                    "findings": s.findings.len(),
                    "summary": h.engine.diagnose(id).map(|d| d.summary).unwrap_or_default(),
                })
            })
            .collect();
        let s = serde_json::Value::Array(list).to_string();
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}

/// Writes every trunk, one line each (name, state, cause, last code,
/// seconds until the binding lapses, keep-alive round trip, alert), with a
/// header line and a count, as console text. Output as for
/// `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_trunks_text(
    engine: *mut regwatch_engine,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let s = crate::core::render_trunks_text(&h.engine);
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}

/// Writes every trunk's configuration findings (severity, code, field,
/// message, fix), grouped by trunk, as console text. Output as for
/// `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_findings_text(
    engine: *mut regwatch_engine,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let s = crate::core::render_findings_text(&h.engine);
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}

/// Copies the configuration of trunk `trunk` (credentials included) into
/// a new `regwatch_trunk_config` (free it with
/// `regwatch_trunk_config_free`), e.g. to run `regwatch_check_trunk` off
/// the engine's thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_trunk_config(
    engine: *mut regwatch_engine,
    trunk: *const c_char,
    out: *mut *mut regwatch_trunk_config,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let id = try_ffi!(trunk_id(h, trunk));
        let Some(cfg) = h.engine.trunk_config(id) else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        let b = Box::new(regwatch_trunk_config { inner: cfg.clone() });
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { out.write(Box::into_raw(b)) };
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Writes the trunk's state and cause ids (static strings, never freed) to
/// `*out_state` and `*out_cause`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_trunk_state(
    engine: *mut regwatch_engine,
    trunk: *const c_char,
    out_state: *mut *const c_char,
    out_cause: *mut *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out_state.is_null() || out_cause.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let id = try_ffi!(trunk_id(h, trunk));
        let (state, cause) = try_ffi!(h.engine.trunk_state(id).map_err(engine_err));
        // SAFETY: both valid for one write per the contract.
        unsafe {
            *out_state = static_cstr(state.as_str());
            *out_cause = static_cstr(cause.as_str());
        }
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// NUL-terminated static copies of the state and cause ids.
fn static_cstr(s: &'static str) -> *const c_char {
    use crate::core::{Cause, RegState};
    use std::sync::OnceLock;
    static TABLE: OnceLock<Vec<(&'static str, CString)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        RegState::ALL
            .iter()
            .map(|s| s.as_str())
            .chain(Cause::ALL.iter().map(|c| c.as_str()))
            .map(|s| (s, CString::new(s).unwrap_or_default()))
            .collect()
    });
    table
        .iter()
        .find(|(k, _)| *k == s)
        .map(|(_, c)| c.as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// For the crate's own tests of the poisoning path: runs `f` inside the
/// engine boundary as an export would.
#[doc(hidden)]
pub fn test_with_engine(e: *mut regwatch_engine, f: impl FnOnce(&mut Engine)) -> regwatch_status {
    with_engine(e, |h| {
        f(&mut h.engine);
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Whether the host sent or received a message.
pub type regwatch_direction = u32;
/// The host sent it (a REGISTER going out).
pub const REGWATCH_DIRECTION_SENT: regwatch_direction = 1;
/// The host received it (a response coming in).
pub const REGWATCH_DIRECTION_RECEIVED: regwatch_direction = 2;

/// Observation: one SIP message the host sent or received, as bytes (a UDP
/// datagram, or one message framed from a TCP/TLS stream). A sent REGISTER
/// and a received response to it update the trunk they belong to (matched
/// by Call-ID and CSeq, else by To/From user and domain and the
/// Request-URI); retransmissions count once; other methods are ignored.
/// `peer` (may be NULL) is the remote `host:port`, kept for logs.
///
/// Returns OK when the message was recorded for a trunk,
/// `REGWATCH_STATUS_DONE` when it is not about registration or is a
/// retransmission / provisional / stale response, `REGWATCH_STATUS_NOT_FOUND`
/// when no trunk matches, and `REGWATCH_STATUS_SIP_PARSE` for malformed or
/// oversized (> 64 KiB) input. `bytes` is borrowed for the call.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_observe_sip(
    engine: *mut regwatch_engine,
    now_ms: u64,
    direction: regwatch_direction,
    transport: regwatch_transport,
    peer: *const c_char,
    bytes: *const u8,
    len: usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        let direction = match direction {
            REGWATCH_DIRECTION_SENT => crate::core::Direction::Sent,
            REGWATCH_DIRECTION_RECEIVED => crate::core::Direction::Received,
            _ => return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
        };
        let transport = try_ffi!(transport_arg(transport));
        // SAFETY: NULL or NUL-terminated per the contract.
        let peer = try_ffi!(unsafe { opt_str(peer) });
        if bytes.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        // SAFETY: `bytes` is valid for `len` bytes per the contract.
        let data = unsafe { std::slice::from_raw_parts(bytes, len) };
        use crate::core::SipObserved::*;
        match h.engine.observe_sip(now_ms, direction, transport, data) {
            Ok(Register(_) | Response(_) | KeepAlive(_)) => regwatch_status::REGWATCH_STATUS_OK,
            Ok(Provisional(_) | Retransmission(_) | Stale(_) | NotRegistration) => {
                regwatch_status::REGWATCH_STATUS_DONE
            }
            Ok(Unmatched) => {
                tracing::debug!(peer = peer.unwrap_or("?"), "SIP message matches no trunk");
                regwatch_status::REGWATCH_STATUS_NOT_FOUND
            }
            Err(e) => {
                tracing::debug!(peer = peer.unwrap_or("?"), "unparsable SIP message: {e}");
                regwatch_status::REGWATCH_STATUS_SIP_PARSE
            }
        }
    })
}
