//! `regwatch_engine`: the handle, its lifecycle, options, trunks and the
//! run loop (timers, `poll_event`). Observations are in `observe.rs`, the
//! event in `event.rs`, the renderings in `report.rs`, the host adapters
//! in `asterisk.rs` and `freeswitch.rs`, a module's settings in
//! `settings.rs`.
use super::boundary::{put_box, req_str, try_ffi, with_handle, Handle};
use super::config::{config_status, regwatch_trunk_config};
use super::event::{event_of, regwatch_event, EventStore};
use super::log::{regwatch_log_callback, regwatch_log_level, CallbackLogger};
use super::regwatch_status;
use crate::core::{Action, Engine, EngineConfig, Output, Probe, TrunkId};
use crate::hosts::asterisk::AsteriskSession;
use crate::hosts::freeswitch::FreeswitchSession;
use crate::hosts::render::{origin, render, reregister, Origin};
use crate::hosts::settings::HostSettings;
use std::ffi::CStr;
use std::ffi::{c_char, c_void};

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
    events: EventStore,
    /// The last polled output, when it was a transmit (for
    /// `regwatch_engine_probe_job`).
    pub(crate) last_transmit: Option<Probe>,
    /// The host's log callback, its userdata and level.
    log_callback: Option<LogTarget>,
    /// A module's own settings (regwatch.conf), see `settings.rs`.
    pub(crate) settings: HostSettings,
    /// The note on the last `regwatch_engine_setting` (empty: none).
    pub(crate) setting_note: String,
    /// What the Asterisk adapter remembers.
    pub(crate) asterisk: AsteriskSession,
    /// What the FreeSWITCH adapter remembers.
    pub(crate) freeswitch: FreeswitchSession,
}

/// The host's log callback as installed.
#[derive(Clone, Copy)]
struct LogTarget {
    cb: unsafe extern "C" fn(*mut c_void, regwatch_log_level, *const c_char),
    userdata: *mut c_void,
}

impl regwatch_engine {
    /// Installs (or removes) the log callback at `level`.
    fn set_logger(&mut self, target: Option<LogTarget>, level: regwatch_log_level) {
        self.log_callback = target;
        self.logger =
            target.map(|t| tracing::Dispatch::new(CallbackLogger::new(t.cb, t.userdata, level)));
    }

    /// Re-installs the log callback (if any) at `level`.
    pub(crate) fn set_log_level(&mut self, level: regwatch_log_level) {
        self.set_logger(self.log_callback, level);
    }
}

impl Handle for regwatch_engine {
    fn poisoned(&self) -> bool {
        self.poisoned
    }
    fn poison(&mut self) {
        self.poisoned = true;
    }
    fn logger(&self) -> Option<tracing::Dispatch> {
        self.logger.clone()
    }
}

/// Runs `f` on the engine behind `e` (see [`with_handle`]).
pub(crate) fn with_engine(
    e: *mut regwatch_engine,
    f: impl FnOnce(&mut regwatch_engine) -> regwatch_status,
) -> regwatch_status {
    with_handle(e, f)
}

pub(crate) fn trunk_id(
    h: &regwatch_engine,
    name: *const c_char,
) -> Result<TrunkId, regwatch_status> {
    if name.is_null() {
        return Err(regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT);
    }
    // SAFETY: non-NULL, and NUL-terminated per the contract of the calling
    // export.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    // Looked up as bytes: a name found is a trunk's, so UTF-8; only a name
    // not found is checked, so that bad text still says so.
    match h.engine.find_trunk_bytes(name) {
        Some(id) => Ok(id),
        None if std::str::from_utf8(name).is_err() => {
            Err(regwatch_status::REGWATCH_STATUS_INVALID_UTF8)
        }
        None => Err(regwatch_status::REGWATCH_STATUS_NOT_FOUND),
    }
}

pub(crate) fn engine_err(e: crate::core::Error) -> regwatch_status {
    match e {
        crate::core::Error::UnknownTrunk => regwatch_status::REGWATCH_STATUS_NOT_FOUND,
        crate::core::Error::DuplicateName(_) => regwatch_status::REGWATCH_STATUS_ALREADY_EXISTS,
        crate::core::Error::MissingName => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
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
    super::boundary::guard(|| {
        if out.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let h = regwatch_engine {
            engine: Engine::new(EngineConfig::default(), now_ms, seed),
            poisoned: false,
            logger: None,
            events: EventStore::default(),
            last_transmit: None,
            log_callback: None,
            settings: HostSettings::new(),
            setting_note: String::new(),
            asterisk: AsteriskSession::new(),
            freeswitch: FreeswitchSession::new(),
        };
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { put_box(out, h) }
    })
}

/// Frees an engine (poisoned or not). NULL is ignored. Pointers from
/// `regwatch_engine_poll_event` become invalid.
#[no_mangle]
pub unsafe extern "C" fn regwatch_engine_free(engine: *mut regwatch_engine) {
    // SAFETY: `engine` is NULL or came from regwatch_engine_new.
    unsafe { super::boundary::free_box(engine) };
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
        h.set_logger(callback.map(|cb| LogTarget { cb, userdata }), max_level);
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

/// The longest wait `regwatch_engine_next_wait_ms` gives.
pub const REGWATCH_MAX_WAIT_MS: u32 = 60_000;

/// How long a host may sleep from `now_ms` before calling
/// `regwatch_engine_handle_timeout`: the time to the next deadline, 0 when
/// it is due, and at most `REGWATCH_MAX_WAIT_MS` (also when no timer is
/// armed), so that a host's timer never needs its own cap.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_next_wait_ms(
    engine: *mut regwatch_engine,
    now_ms: u64,
    out_wait_ms: *mut u32,
) -> regwatch_status {
    with_engine(engine, |h| {
        if out_wait_ms.is_null() {
            return regwatch_status::REGWATCH_STATUS_NULL_ARGUMENT;
        }
        let wait = h.engine.poll_timeout().map_or(REGWATCH_MAX_WAIT_MS, |at| {
            u32::try_from(at.saturating_sub(now_ms))
                .unwrap_or(u32::MAX)
                .min(REGWATCH_MAX_WAIT_MS)
        });
        // SAFETY: valid for one write per the contract.
        unsafe { *out_wait_ms = wait };
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Takes the next output and fills `*out` (returns OK), or returns
/// `REGWATCH_STATUS_DONE` when there is none. Set `out->struct_size` to
/// `sizeof(regwatch_event)` first (`REGWATCH_STATUS_INVALID_ARGUMENT`
/// when it is smaller than this library's event). The strings in `*out`
/// belong to the engine and stay valid until the next poll or input on
/// this engine.
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
        // SAFETY: `out` points to a caller's event whose `struct_size` is
        // set, per the contract.
        let size = unsafe { (*out).struct_size } as usize;
        if size < std::mem::size_of::<regwatch_event>() {
            return regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT;
        }
        let Some(output) = h.engine.poll_output() else {
            return regwatch_status::REGWATCH_STATUS_DONE;
        };
        let (origin, rereg) = match &output {
            Output::Action(Action::ReRegister { trunk, name }) => {
                let (o, r) = reregister(&h.engine, *trunk, name, &h.asterisk, &h.freeswitch);
                (o, Some(r))
            }
            Output::Event(e) => (origin(e.name(), &h.asterisk, &h.freeswitch), None),
            Output::Transmit(_) => (Origin::Other, None),
        };
        let rendered = render(&h.engine, &output, origin, rereg);
        let ev = event_of(&output, h.engine.now_ms(), &rendered, &mut h.events);
        h.last_transmit = match output {
            Output::Transmit(p) => Some(p),
            _ => None,
        };
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { out.write(ev) };
        regwatch_status::REGWATCH_STATUS_OK
    })
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
