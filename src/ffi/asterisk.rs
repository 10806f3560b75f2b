//! The Asterisk adapter behind the C ABI: what Asterisk says, handed over
//! as it says it (sorcery object sets, stasis JSON, log lines, console
//! text), given to the engine's [`AsteriskSession`](crate::hosts::asterisk::AsteriskSession).
//!
//! Every function here is a `regwatch_engine_*` call: the same threading
//! rules as the engine (serialise calls on one engine).
use super::boundary::{pairs, req_str, try_ffi};
use super::engine::{engine_err, regwatch_engine, with_engine};
use super::regwatch_status;
use crate::hosts::session::Fed;
use crate::hosts::HostError;
use std::ffi::c_char;

/// The status of a host input: OK when the engine took it, DONE when there
/// was nothing in it for the engine, NOT_FOUND for an unknown trunk or
/// registration, INVALID_ARGUMENT for malformed input.
pub(crate) fn fed_status(r: Result<Fed, HostError>) -> regwatch_status {
    match r {
        Ok(Fed::Applied) => regwatch_status::REGWATCH_STATUS_OK,
        Ok(Fed::Ignored) => regwatch_status::REGWATCH_STATUS_DONE,
        Ok(Fed::UnknownTrunk) => regwatch_status::REGWATCH_STATUS_NOT_FOUND,
        Err(_) => regwatch_status::REGWATCH_STATUS_INVALID_ARGUMENT,
    }
}

/// Asterisk: collects one sorcery object (`kind` = `registration`, `auth`
/// or `transport`; `id` = its section name) as `n` name/value pairs, as
/// `ast_sorcery_objectset_create` gives them. Nothing changes in the engine
/// until `regwatch_engine_asterisk_commit`. Passwords are copied, never
/// logged.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_object(
    engine: *mut regwatch_engine,
    kind: *const c_char,
    id: *const c_char,
    names: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C strings and arrays per the documented contract.
        let kind = try_ffi!(unsafe { req_str(kind) });
        let id = try_ffi!(unsafe { req_str(id) });
        let fields = try_ffi!(unsafe { pairs(names, values, n) });
        h.asterisk.object(kind, id, &fields);
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Asterisk: applies the objects collected with
/// `regwatch_engine_asterisk_object` as the complete configuration: every
/// registration becomes (or updates) a trunk named after its section,
/// trunks of registrations no longer present are removed, and validation
/// findings plus Asterisk-specific notes come out as
/// `REGWATCH_EVENT_FINDING` events. Call it on load and after every
/// pjsip.conf reload.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_commit(
    engine: *mut regwatch_engine,
    now_ms: u64,
) -> regwatch_status {
    with_engine(engine, |h| {
        let r = h.asterisk.commit(&mut h.engine, now_ms, &h.settings);
        r.map_or_else(engine_err, |()| regwatch_status::REGWATCH_STATUS_OK)
    })
}

/// Asterisk: the same as collecting objects and committing, from the text
/// of a `pjsip.conf` (sections, templates, comments; `#include` lines are
/// not followed).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_pjsip_conf(
    engine: *mut regwatch_engine,
    now_ms: u64,
    text: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let text = try_ffi!(unsafe { req_str(text) });
        let r = h
            .asterisk
            .pjsip_conf(&mut h.engine, now_ms, &h.settings, text);
        r.map_or_else(engine_err, |()| regwatch_status::REGWATCH_STATUS_OK)
    })
}

/// Asterisk: a stasis `Registry` message as JSON (`{"channeltype",
/// "username" (client_uri), "domain" (server_uri), "status", "cause"}`).
/// Returns `REGWATCH_STATUS_DONE` for a message that is not a PJSIP
/// registration, `REGWATCH_STATUS_NOT_FOUND` for a registration the
/// committed configuration does not know, `REGWATCH_STATUS_INVALID_ARGUMENT`
/// for JSON that is not a Registry message.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_registry_json(
    engine: *mut regwatch_engine,
    now_ms: u64,
    json: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let json = try_ffi!(unsafe { req_str(json) });
        fed_status(h.asterisk.registry_json(&mut h.engine, now_ms, json))
    })
}

/// Asterisk: one log line (colour codes allowed). Lines of
/// `res_pjsip_outbound_registration` that carry a status code or a timeout
/// ("Fatal response '403' received from ...", "No response received from
/// ...") become observations; any other line returns
/// `REGWATCH_STATUS_DONE`, so a module may pass every WARNING it sees.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_log_line(
    engine: *mut regwatch_engine,
    now_ms: u64,
    line: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let line = try_ffi!(unsafe { req_str(line) });
        fed_status(h.asterisk.log_line(&mut h.engine, now_ms, line))
    })
}

/// Asterisk: the console output of `pjsip show registrations`. Each
/// registration regwatch knows but has seen nothing of yet (state
/// `unknown`, e.g. right after the module loaded) takes the state Asterisk
/// shows (`Registered`, `Unregistered`, `Rejected`); trunks with their own
/// observations keep them. Returns `REGWATCH_STATUS_DONE` when no line
/// applied.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_asterisk_registrations_text(
    engine: *mut regwatch_engine,
    now_ms: u64,
    text: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let text = try_ffi!(unsafe { req_str(text) });
        fed_status(Ok(h.asterisk.registrations_text(
            &mut h.engine,
            now_ms,
            text,
        )))
    })
}
