//! The FreeSWITCH adapter behind the C ABI: sofia's configuration XML and
//! gateway events, handed over as FreeSWITCH gives them, given to the
//! engine's [`FreeswitchSession`](crate::hosts::freeswitch::FreeswitchSession).
//!
//! Every function here is a `regwatch_engine_*` call: the same threading
//! rules as the engine (serialise calls on one engine).
use super::asterisk::fed_status;
use super::boundary::{pairs, req_str, try_ffi, write_out};
use super::engine::{engine_err, regwatch_engine, with_engine};
use super::regwatch_status;
use std::ffi::c_char;

/// FreeSWITCH: the sofia configuration XML (a whole `sofia.conf` as
/// `switch_xml_open_cfg` gives it, a profile, or lone `<gateway>`
/// elements). Every registering gateway becomes (or updates) a trunk named
/// after the gateway; findings and FreeSWITCH-specific notes come out as
/// events.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_gateways_xml(
    engine: *mut regwatch_engine,
    now_ms: u64,
    xml: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let xml = try_ffi!(unsafe { req_str(xml) });
        let r = h
            .freeswitch
            .gateways_xml(&mut h.engine, now_ms, &h.settings, xml);
        r.map_or_else(engine_err, |()| regwatch_status::REGWATCH_STATUS_OK)
    })
}

/// FreeSWITCH: the output of `sofia xmlstatus` (every profile and gateway
/// with sofia's state). Each gateway seen nothing of yet takes the state
/// sofia shows (`REGED` registered, `FAILED`/`FAIL_WAIT` rejected), so a
/// module loaded while FreeSWITCH runs starts from FreeSWITCH's own view.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_status_xml(
    engine: *mut regwatch_engine,
    now_ms: u64,
    text: *const c_char,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let text = try_ffi!(unsafe { req_str(text) });
        super::asterisk::fed_status(Ok(h.freeswitch.status_xml(&mut h.engine, now_ms, text)))
    })
}

/// FreeSWITCH: one event's headers as `n` name/value pairs (as
/// `switch_event_header_t` lists them; `Event-Subclass` among them).
/// `sofia::gateway_state` and `sofia::gateway_invalid_digest_req` become
/// observations; `sofia::gateway_add` / `gateway_delete` add or remove the
/// trunk (a gateway must be known from `regwatch_engine_freeswitch_gateways_xml`
/// to be added). Other events return `REGWATCH_STATUS_DONE`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_event(
    engine: *mut regwatch_engine,
    now_ms: u64,
    names: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: arrays per the documented contract.
        let headers = try_ffi!(unsafe { pairs(names, values, n) });
        fed_status(h.freeswitch.event(&mut h.engine, now_ms, &headers))
    })
}

/// FreeSWITCH: the sofia profile of `gateway` (from the gateway XML or its
/// `sofia::gateway_add` event), for commands such as `sofia profile <p>
/// register <gw>`. `NOT_FOUND` when no profile is known. Output as for
/// `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_freeswitch_profile(
    engine: *mut regwatch_engine,
    gateway: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: C string per the contract.
        let gateway = try_ffi!(unsafe { req_str(gateway) });
        let Some(p) = h.freeswitch.profile(gateway) else {
            return regwatch_status::REGWATCH_STATUS_NOT_FOUND;
        };
        // SAFETY: buffer per the contract.
        unsafe { write_out(p, buf, len, out_len) }
    })
}
