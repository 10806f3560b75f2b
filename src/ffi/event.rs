//! `regwatch_event`: one engine output as C sees it, typed (numbered
//! kind, state, cause, severity, purpose), with what the host shows
//! already rendered (summary, log line, AMI event, FreeSWITCH headers,
//! re-register command).
use super::enums::{regwatch_transport, transport_code};
use super::ids::*;
use super::log::{level_code, regwatch_log_level};
use crate::core::{Action, Event, Output};
use crate::hosts::render::{Rendered, Reregister};
use std::ffi::{c_char, CString};
use std::ptr;

/// What a `regwatch_event` is.
pub type regwatch_event_kind = u32;
/// The trunk's state or cause changed.
pub const REGWATCH_EVENT_STATE_CHANGED: regwatch_event_kind = 1;
/// An alert was raised (or re-raised with a new cause).
pub const REGWATCH_EVENT_ALERT_RAISED: regwatch_event_kind = 2;
/// The alert is over.
pub const REGWATCH_EVENT_ALERT_CLEARED: regwatch_event_kind = 3;
/// A configuration finding (on add/update): `finding_code`, `severity`,
/// `summary` (the message and its fix).
pub const REGWATCH_EVENT_FINDING: regwatch_event_kind = 4;
/// Re-send REGISTER for the trunk now: run `command` when it is not ""
/// (the host's console command), else re-register by the host's own
/// means. Emitted only when re-registration on recovery is on for the
/// trunk (`reregister_on_recovery`); otherwise the engine's wish comes
/// out as a `REGWATCH_EVENT_NOTICE`.
pub const REGWATCH_EVENT_ACTION_REREGISTER: regwatch_event_kind = 5;
/// Keep-alive on: send the OPTIONS probe described by `transmit`, then
/// report it with `regwatch_engine_probe_result` and `transmit.probe_id`.
pub const REGWATCH_EVENT_TRANSMIT: regwatch_event_kind = 6;
/// Nothing to do but log `log_line` (e.g. a re-registration that is off
/// for the trunk).
pub const REGWATCH_EVENT_NOTICE: regwatch_event_kind = 7;

/// A keep-alive probe to send (`REGWATCH_EVENT_TRANSMIT`; zeroed, with
/// "" strings, for other kinds).
#[repr(C)]
pub struct regwatch_transmit {
    /// The probe's id: pass it to `regwatch_engine_probe_result`.
    pub probe_id: u64,
    /// Why (`REGWATCH_PURPOSE_*`).
    pub purpose: regwatch_probe_purpose,
    /// The host name or address to send to.
    pub host: *const c_char,
    /// The port.
    pub port: u16,
    /// `REGWATCH_TRANSPORT_*`.
    pub transport: regwatch_transport,
    /// The Request-URI domain (`sip:<domain>`) and TLS name.
    pub domain: *const c_char,
    /// The From user.
    pub user: *const c_char,
    /// When the engine counts the probe as timed out (engine clock).
    pub deadline_ms: u64,
    /// The time left until then, in ms, for the sender's own timeout.
    pub timeout_ms: u32,
    /// Over another transport than the trunk's own: a PBX cannot send it
    /// with its SIP stack; run it with `regwatch_engine_probe_job`.
    pub via_driver: bool,
}

/// One header of a FreeSWITCH event (`fs_headers`).
#[repr(C)]
pub struct regwatch_header {
    /// The header name.
    pub name: *const c_char,
    /// Its value.
    pub value: *const c_char,
}

/// One output of the engine. Set `struct_size` to
/// `sizeof(regwatch_event)` before `regwatch_engine_poll_event` (fields
/// are only ever appended). Every pointer in it is owned by the engine and
/// valid until the next `regwatch_engine_poll_event` or input on that
/// engine (the runner: for the callback's duration); copy what you keep.
/// Strings are never NULL ("" when absent).
#[repr(C)]
pub struct regwatch_event {
    /// `sizeof(regwatch_event)` as the caller knows it.
    pub struct_size: u32,
    /// `REGWATCH_EVENT_*`.
    pub kind: regwatch_event_kind,
    /// The trunk's name.
    pub trunk: *const c_char,
    /// When, on the engine's clock (milliseconds).
    pub at_ms: u64,
    /// The state now (state changes and alerts), else `REGWATCH_STATE_NONE`.
    pub state: regwatch_state,
    /// The state before (state changes), else `REGWATCH_STATE_NONE`.
    pub previous_state: regwatch_state,
    /// The cause (state changes and alerts), else `REGWATCH_CAUSE_NONE`.
    pub cause: regwatch_cause,
    /// State changes: the cause's severity; alerts raised and findings:
    /// theirs; else `REGWATCH_SEVERITY_NONE`.
    pub severity: regwatch_severity,
    /// The SIP status code behind it, or 0.
    pub code: u16,
    /// Findings: the finding code (`domain.typo`, ...); else "".
    pub finding_code: *const c_char,
    /// One line in plain words, always filled: the diagnosis, the alert,
    /// the finding with its fix, the action, the probe.
    pub summary: *const c_char,
    /// The whole output as a JSON object.
    pub json: *const c_char,
    /// `REGWATCH_EVENT_TRANSMIT`: the probe.
    pub transmit: regwatch_transmit,
    /// What a PBX module logs for it: a `REGWATCH_LOG_*` level, 0 for
    /// nothing, and the line (without the module's prefix).
    pub log_level: regwatch_log_level,
    /// The log line, or "".
    pub log_line: *const c_char,
    /// `REGWATCH_EVENT_ACTION_REREGISTER`: the host console command that
    /// re-registers the trunk (`pjsip send register <name>`,
    /// `sofia profile <p> register <gw>`), or "".
    pub command: *const c_char,
    /// Asterisk: the AMI event name (`RegwatchState`, `RegwatchAlert`) for
    /// state changes and alerts, else "".
    pub ami_event: *const c_char,
    /// Its fields, each `Key: value\r\n` (Trunk, State, PreviousState or
    /// Alert, Cause, Severity, Code, Summary).
    pub ami_fields: *const c_char,
    /// FreeSWITCH: the event subclass (`regwatch::state`,
    /// `regwatch::alert`), else "".
    pub fs_subclass: *const c_char,
    /// Its headers (Gateway, Alert, State, Previous-State, Cause,
    /// Severity, Code, Summary), `fs_header_count` of them.
    pub fs_headers: *const regwatch_header,
    /// How many headers `fs_headers` has.
    pub fs_header_count: usize,
}

/// Where an event's strings and headers live.
#[derive(Default)]
pub(crate) struct EventStore {
    strings: Vec<CString>,
    headers: Vec<regwatch_header>,
}

// SAFETY: the raw pointers in `headers` point into `strings`, owned by the
// same store; nothing is shared across threads without its owner.
unsafe impl Send for EventStore {}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl EventStore {
    fn push(&mut self, s: &str) -> *const c_char {
        let c = cstring(s);
        // The CString's heap buffer does not move when the Vec grows.
        let p = c.as_ptr();
        self.strings.push(c);
        p
    }
}

/// Converts one engine output, rendered by `hosts::render`, into a
/// `regwatch_event` whose strings live in `store` (cleared first).
pub(crate) fn event_of(
    output: &Output,
    now_ms: u64,
    r: &Rendered,
    store: &mut EventStore,
) -> regwatch_event {
    store.strings.clear();
    store.headers.clear();
    let json = serde_json::to_string(&output).unwrap_or_else(|_| "{}".to_owned());
    let empty = store.push("");
    let mut ev = regwatch_event {
        struct_size: std::mem::size_of::<regwatch_event>() as u32,
        kind: 0,
        trunk: empty,
        // Findings and actions carry no time of their own.
        at_ms: now_ms,
        state: REGWATCH_STATE_NONE,
        previous_state: REGWATCH_STATE_NONE,
        cause: REGWATCH_CAUSE_NONE,
        severity: REGWATCH_SEVERITY_NONE,
        code: 0,
        finding_code: empty,
        summary: store.push(&r.summary),
        json: store.push(&json),
        transmit: regwatch_transmit {
            probe_id: 0,
            purpose: REGWATCH_PURPOSE_NONE,
            host: empty,
            port: 0,
            transport: 0,
            domain: empty,
            user: empty,
            deadline_ms: 0,
            timeout_ms: 0,
            via_driver: false,
        },
        log_level: 0,
        log_line: empty,
        command: empty,
        ami_event: empty,
        ami_fields: empty,
        fs_subclass: empty,
        fs_headers: ptr::null(),
        fs_header_count: 0,
    };
    match output {
        Output::Event(e) => {
            ev.trunk = store.push(e.name());
            match e {
                Event::StateChanged {
                    at_ms,
                    from,
                    to,
                    cause,
                    code,
                    ..
                } => {
                    ev.kind = REGWATCH_EVENT_STATE_CHANGED;
                    ev.at_ms = *at_ms;
                    ev.state = state_code(*to);
                    ev.previous_state = state_code(*from);
                    ev.cause = cause_code(*cause);
                    ev.severity = severity_code(cause.severity());
                    ev.code = code.unwrap_or(0);
                }
                Event::AlertRaised {
                    at_ms,
                    cause,
                    severity,
                    state,
                    code,
                    ..
                } => {
                    ev.kind = REGWATCH_EVENT_ALERT_RAISED;
                    ev.at_ms = *at_ms;
                    ev.state = state_code(*state);
                    ev.cause = cause_code(*cause);
                    ev.severity = severity_code(*severity);
                    ev.code = code.unwrap_or(0);
                }
                Event::AlertCleared {
                    at_ms,
                    cause,
                    state,
                    ..
                } => {
                    ev.kind = REGWATCH_EVENT_ALERT_CLEARED;
                    ev.at_ms = *at_ms;
                    ev.state = state_code(*state);
                    ev.cause = cause_code(*cause);
                }
                Event::Finding { finding, .. } => {
                    ev.kind = REGWATCH_EVENT_FINDING;
                    ev.severity = severity_code(finding.severity);
                    ev.finding_code = store.push(finding.code);
                }
            }
        }
        Output::Action(Action::ReRegister { name, .. }) => {
            ev.trunk = store.push(name);
            ev.kind = match &r.reregister {
                Some(Reregister::Declined | Reregister::NoProfile) => REGWATCH_EVENT_NOTICE,
                _ => REGWATCH_EVENT_ACTION_REREGISTER,
            };
            if let Some(Reregister::Run(cmd)) = &r.reregister {
                ev.command = store.push(cmd);
            }
        }
        Output::Transmit(p) => {
            ev.kind = REGWATCH_EVENT_TRANSMIT;
            ev.trunk = store.push(&p.target.name);
            ev.at_ms = p.at_ms;
            let (domain, user, timeout_ms, via_driver) = r.probe.as_ref().map_or(
                (
                    p.target.domain.as_str(),
                    p.target.username.as_str(),
                    0,
                    false,
                ),
                |q| {
                    (
                        q.domain.as_str(),
                        q.user.as_str(),
                        q.timeout_ms,
                        q.via_driver,
                    )
                },
            );
            ev.transmit = regwatch_transmit {
                probe_id: p.id,
                purpose: purpose_code(p.purpose),
                host: store.push(&p.target.host),
                port: p.port,
                transport: transport_code(p.transport),
                domain: store.push(domain),
                user: store.push(user),
                deadline_ms: p.deadline_ms,
                timeout_ms,
                via_driver,
            };
        }
    }
    if let Some((level, line)) = &r.log {
        ev.log_level = level_code(*level);
        ev.log_line = store.push(line);
    }
    if let Some((name, fields)) = &r.ami {
        ev.ami_event = store.push(name);
        ev.ami_fields = store.push(fields);
    }
    if let Some((subclass, headers)) = &r.freeswitch {
        ev.fs_subclass = store.push(subclass);
        for (k, v) in headers {
            let name = store.push(k);
            let value = store.push(v);
            store.headers.push(regwatch_header { name, value });
        }
        ev.fs_headers = store.headers.as_ptr();
        ev.fs_header_count = store.headers.len();
    }
    ev
}

/// Fills `ev` with an empty event whose `struct_size` is set, ready for
/// `regwatch_engine_poll_event` (`struct regwatch_event ev = { .struct_size
/// = sizeof ev };` does the same). NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn regwatch_event_init(ev: *mut regwatch_event) {
    if ev.is_null() {
        return;
    }
    // SAFETY: `ev` is valid for one write per the contract; every field
    // of the struct is valid when zeroed (NULL pointers, zero numbers).
    unsafe {
        ev.write(std::mem::zeroed());
        (*ev).struct_size = std::mem::size_of::<regwatch_event>() as u32;
    }
}
