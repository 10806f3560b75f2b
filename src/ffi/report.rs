//! What an engine renders for people: trunk JSON and console text, the
//! trunks table, findings, and a trunk's configuration and state.
use super::boundary::opt_str;
use super::boundary::{put_box, try_ffi, write_out};
use super::config::regwatch_trunk_config;
use super::engine::{engine_err, regwatch_engine, trunk_id, with_engine};
use super::ids::{cause_cstr, state_cstr};
use super::regwatch_status;
use crate::core::{render_trunk_json, render_trunk_text};
use std::ffi::c_char;

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
        let cfg = regwatch_trunk_config::new(cfg.clone());
        // SAFETY: `out` is valid for one write per the contract.
        unsafe { put_box(out, cfg) }
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
            *out_state = state_cstr(state);
            *out_cause = cause_cstr(cause);
        }
        regwatch_status::REGWATCH_STATUS_OK
    })
}

/// Asterisk: the `RegwatchTrunk` events of the `RegwatchShowTrunks` AMI
/// action, one per trunk (Trunk, State, Cause, Code, Alerting, ExpiresIn
/// in whole seconds rounded up or -1, Findings, Summary), each
/// `Key: value\r\n` lines ending in an empty line, with `ActionID`
/// repeated when `action_id` (may be NULL) is not empty. `*out_count`
/// (may be NULL) gets the number of trunks. Output as for
/// `regwatch_engine_trunk_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_ami_trunks(
    engine: *mut regwatch_engine,
    action_id: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    out_count: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: NULL or a C string per the contract.
        let action_id = try_ffi!(unsafe { opt_str(action_id) });
        let (text, n) = crate::hosts::render::ami_trunks(&h.engine, action_id);
        if !out_count.is_null() {
            // SAFETY: valid for one write per the contract.
            unsafe { *out_count = n };
        }
        // SAFETY: buffer per the contract.
        unsafe { write_out(&text, buf, len, out_len) }
    })
}

/// Writes the Prometheus text exposition (format 0.0.4) of every trunk:
/// the same names and labels as `regwatch watch --metrics` (see the
/// README's "Prometheus and Alertmanager"), for a module to serve on its
/// host's metrics endpoint. `host` (may be NULL or empty: no `host` label)
/// names the PBX in the `host` label. Output as for
/// `regwatch_engine_trunk_json`; no secret appears in it.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn regwatch_engine_metrics_text(
    engine: *mut regwatch_engine,
    host: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> regwatch_status {
    with_engine(engine, |h| {
        // SAFETY: NULL or a C string per the contract.
        let host = try_ffi!(unsafe { opt_str(host) }).unwrap_or("");
        let s = crate::hosts::metrics::render_engine(&h.engine, host);
        // SAFETY: buffer per the contract.
        unsafe { write_out(&s, buf, len, out_len) }
    })
}
