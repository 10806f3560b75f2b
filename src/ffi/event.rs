//! `regwatch_event`: one engine output as C sees it.
use super::enums::{regwatch_transport, transport_code};
use crate::core::{Action, Event, Output};
use std::ffi::{c_char, CString};

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
