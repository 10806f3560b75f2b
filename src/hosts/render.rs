//! What a PBX module shows for each engine output and for its trunk list,
//! rendered here so that the C modules only print: the one-line summary
//! every event carries, the module's log line, the Asterisk AMI event
//! (`RegwatchState`, `RegwatchAlert`, the `RegwatchTrunk` list) and the
//! FreeSWITCH event (`regwatch::state`, `regwatch::alert`) headers.
//!
//! Pure: the engine is only read. Values never contain CR or LF (a reason
//! phrase from a registrar cannot add AMI fields or event headers).
#![forbid(unsafe_code)]

use super::asterisk::AsteriskSession;
use super::freeswitch::FreeswitchSession;
use super::settings::LogLevel;
use crate::core::{Action, Engine, Event, Output, Probe, ProbePurpose, TrunkId};
use crate::validate::Severity;
use std::fmt::Write;

/// Where a trunk came from, for the words of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An Asterisk outbound registration.
    Asterisk,
    /// A FreeSWITCH sofia gateway.
    Freeswitch,
    /// Added through the engine's own API.
    Other,
}

/// What a host should do with a "re-register now" action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reregister {
    /// Run this console command (Asterisk CLI, FreeSWITCH API).
    Run(String),
    /// Re-register the trunk by the host's own means (no command known).
    Host,
    /// Re-registration on recovery is off for the trunk.
    Declined,
    /// The FreeSWITCH gateway's sofia profile is not known.
    NoProfile,
}

/// Control characters (CR, LF, ...) out of a value.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The one line every event carries: the diagnosis for state changes and
/// alerts, the finding and its fix, what an action or a probe is.
pub fn summary(engine: &Engine, output: &Output, reregister: Option<&Reregister>) -> String {
    let s = match output {
        Output::Event(Event::StateChanged {
            trunk,
            from,
            to,
            cause,
            ..
        }) => engine
            .diagnose(*trunk)
            .ok()
            .filter(|d| d.cause == *cause)
            .map(|d| d.summary)
            .unwrap_or_else(|| format!("{} → {} ({})", from.as_str(), to.as_str(), cause.as_str())),
        Output::Event(Event::AlertRaised { summary, .. }) => summary.clone(),
        Output::Event(Event::AlertCleared { cause, state, .. }) => format!(
            "The {} alert is over; the registration is {}.",
            cause.as_str(),
            state.as_str()
        ),
        Output::Event(Event::Finding { finding, .. }) => {
            format!(
                "{} Fix: {}",
                sentence(&finding.message),
                sentence(&finding.fix)
            )
        }
        Output::Action(Action::ReRegister { .. }) => match reregister {
            Some(Reregister::Declined) => {
                "The registrar answers again; re-registration on recovery is off for this trunk."
                    .to_owned()
            }
            Some(Reregister::NoProfile) => {
                "The registrar answers again, but the gateway's sofia profile is unknown."
                    .to_owned()
            }
            _ => "The registrar answers again: re-register now.".to_owned(),
        },
        Output::Transmit(p) => format!(
            "{} {} probe to {}:{} over {}",
            match p.purpose {
                ProbePurpose::AccountQuery | ProbePurpose::CredentialQuery => "REGISTER",
                _ => "OPTIONS",
            },
            p.purpose.as_str(),
            p.target.host,
            p.port,
            p.transport.as_str()
        ),
    };
    clean(&s)
}

/// `s` ending in a full stop (or the `.`, `!`, `?` or `:` it has).
fn sentence(s: &str) -> std::borrow::Cow<'_, str> {
    let t = s.trim_end();
    if t.is_empty() || t.ends_with(['.', '!', '?', ':']) {
        std::borrow::Cow::Borrowed(t)
    } else {
        std::borrow::Cow::Owned(format!("{t}."))
    }
}

/// The log line a module writes for an output (without its own prefix),
/// if any: findings, and what became of a "re-register now". State
/// changes and alerts are logged by the engine itself.
pub fn log_line(
    output: &Output,
    summary: &str,
    origin: Origin,
    reregister: Option<&Reregister>,
) -> Option<(LogLevel, String)> {
    let name = match output {
        Output::Event(e) => e.name(),
        Output::Action(Action::ReRegister { name, .. }) => name,
        Output::Transmit(_) => return None,
    };
    let trunk = match origin {
        Origin::Freeswitch => format!("gateway {}", clean(name)),
        _ => format!("registration '{}'", clean(name)),
    };
    match output {
        // Info findings are for who asks (`show findings`, debug level):
        // at every load they were lines of noise per registration.
        Output::Event(Event::Finding { finding, .. }) => Some((
            if finding.severity == Severity::Info {
                LogLevel::Debug
            } else {
                LogLevel::Warn
            },
            format!(
                "{trunk}: [{}] {}: {summary}",
                finding.severity.as_str(),
                finding.code
            ),
        )),
        Output::Action(_) => Some(match reregister {
            Some(Reregister::Run(cmd)) => (
                LogLevel::Info,
                format!("registrar of {trunk} answers again: re-registering now ({cmd})"),
            ),
            Some(Reregister::Declined) => (
                LogLevel::Info,
                format!(
                    "registrar of {trunk} answers again; re-registration on recovery is off for it"
                ),
            ),
            Some(Reregister::NoProfile) => (
                LogLevel::Warn,
                format!("registrar of {trunk} answers again, but its sofia profile is unknown"),
            ),
            Some(Reregister::Host) | None => (
                LogLevel::Info,
                format!("registrar of {trunk} answers again: re-registering now"),
            ),
        }),
        _ => None,
    }
}

/// The event's state, previous state, cause, severity and code as text
/// ("" where the event has none).
fn parts(output: &Output) -> Option<(&'static str, &'static str, &'static str, &'static str, u16)> {
    Some(match output {
        Output::Event(Event::StateChanged {
            from,
            to,
            cause,
            code,
            ..
        }) => (
            to.as_str(),
            from.as_str(),
            cause.as_str(),
            cause.severity().as_str(),
            code.unwrap_or(0),
        ),
        Output::Event(Event::AlertRaised {
            state,
            cause,
            severity,
            code,
            ..
        }) => (
            state.as_str(),
            "",
            cause.as_str(),
            severity.as_str(),
            code.unwrap_or(0),
        ),
        Output::Event(Event::AlertCleared { state, cause, .. }) => {
            (state.as_str(), "", cause.as_str(), "", 0)
        }
        _ => return None,
    })
}

/// Asterisk: the AMI event (`RegwatchState` or `RegwatchAlert`) and its
/// fields, each `Key: value\r\n`, for state changes and alerts.
pub fn ami_event(output: &Output, summary: &str) -> Option<(&'static str, String)> {
    let (state, prev, cause, severity, code) = parts(output)?;
    let Output::Event(e) = output else {
        return None;
    };
    let trunk = clean(e.name());
    Some(match e {
        Event::StateChanged { .. } => (
            "RegwatchState",
            format!(
                "Trunk: {trunk}\r\nState: {state}\r\nPreviousState: {prev}\r\nCause: {cause}\r\n\
                 Code: {code}\r\nSummary: {summary}\r\n"
            ),
        ),
        _ => (
            "RegwatchAlert",
            format!(
                "Trunk: {trunk}\r\nAlert: {}\r\nState: {state}\r\nCause: {cause}\r\n\
                 Severity: {severity}\r\nCode: {code}\r\nSummary: {summary}\r\n",
                if matches!(e, Event::AlertRaised { .. }) {
                    "raised"
                } else {
                    "cleared"
                }
            ),
        ),
    })
}

/// FreeSWITCH: the event subclass (`regwatch::state`, `regwatch::alert`)
/// and its headers, for state changes and alerts.
pub fn freeswitch_event(
    output: &Output,
    summary: &str,
) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let (state, prev, cause, severity, code) = parts(output)?;
    let Output::Event(e) = output else {
        return None;
    };
    let mut h = vec![("Gateway", clean(e.name()))];
    let subclass = match e {
        Event::StateChanged { .. } => "regwatch::state",
        Event::AlertRaised { .. } => {
            h.push(("Alert", "raised".to_owned()));
            "regwatch::alert"
        }
        _ => {
            h.push(("Alert", "cleared".to_owned()));
            "regwatch::alert"
        }
    };
    h.push(("State", state.to_owned()));
    if !prev.is_empty() {
        h.push(("Previous-State", prev.to_owned()));
    }
    h.push(("Cause", cause.to_owned()));
    if !severity.is_empty() {
        h.push(("Severity", severity.to_owned()));
    }
    h.push(("Code", code.to_string()));
    h.push(("Summary", summary.to_owned()));
    Some((subclass, h))
}

/// Asterisk: one `RegwatchTrunk` event per trunk for the
/// `RegwatchShowTrunks` action (each ending in an empty line, the
/// `ActionID` repeated when given), and how many.
pub fn ami_trunks(engine: &Engine, action_id: Option<&str>) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    let idtext = action_id
        .filter(|a| !a.is_empty())
        .map(|a| format!("ActionID: {}\r\n", clean(a)))
        .unwrap_or_default();
    for id in engine.trunk_ids() {
        let Ok(s) = engine.snapshot(id) else {
            continue;
        };
        let summary = engine.diagnose(id).map(|d| d.summary).unwrap_or_default();
        // Whole seconds, rounded up: "expires in 0 s" only once lapsed.
        let expires = s.expires_in_ms.map_or(-1, |ms| {
            i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX)
        });
        let _ = write!(
            out,
            "Event: RegwatchTrunk\r\n{idtext}Trunk: {}\r\nState: {}\r\nCause: {}\r\nCode: {}\r\n\
             Alerting: {}\r\nExpiresIn: {expires}\r\nFindings: {}\r\nSummary: {}\r\n\r\n",
            clean(&s.name),
            s.state.as_str(),
            s.cause.as_str(),
            s.last_code.unwrap_or(0),
            if s.alerting { "yes" } else { "no" },
            s.findings.len(),
            clean(&summary),
        );
        n += 1;
    }
    (out, n)
}

/// Everything a module shows for one output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// [`summary`].
    pub summary: String,
    /// [`log_line`].
    pub log: Option<(LogLevel, String)>,
    /// [`ami_event`].
    pub ami: Option<(&'static str, String)>,
    /// [`freeswitch_event`].
    pub freeswitch: Option<(&'static str, Vec<(&'static str, String)>)>,
    /// For a "re-register now": what to do.
    pub reregister: Option<Reregister>,
    /// For a transmit: how to send it.
    pub probe: Option<ProbeRequest>,
}

/// Renders one output. `origin` and `reregister` come from [`reregister`]
/// for actions (a host without sessions passes `Origin::Other`, `None`).
pub fn render(
    engine: &Engine,
    output: &Output,
    origin: Origin,
    reregister: Option<Reregister>,
) -> Rendered {
    let summary = summary(engine, output, reregister.as_ref());
    Rendered {
        log: log_line(output, &summary, origin, reregister.as_ref()),
        ami: ami_event(output, &summary),
        freeswitch: freeswitch_event(output, &summary),
        probe: match output {
            Output::Transmit(p) => Some(ProbeRequest::of(p, engine.now_ms())),
            _ => None,
        },
        reregister,
        summary,
    }
}

/// Where the trunk `name` came from.
pub fn origin(name: &str, asterisk: &AsteriskSession, freeswitch: &FreeswitchSession) -> Origin {
    if freeswitch.knows(name) {
        Origin::Freeswitch
    } else if asterisk.knows(name) {
        Origin::Asterisk
    } else {
        Origin::Other
    }
}

/// Where a trunk came from, and what a host should do when the engine
/// asks to re-register it: nothing when re-registration on recovery is
/// off for it ([`TrunkConfig::reregisters_on_recovery`](crate::core::TrunkConfig::reregisters_on_recovery)),
/// else the console command of its host.
pub fn reregister(
    engine: &Engine,
    id: TrunkId,
    name: &str,
    asterisk: &AsteriskSession,
    freeswitch: &FreeswitchSession,
) -> (Origin, Reregister) {
    let origin = origin(name, asterisk, freeswitch);
    let wanted = engine
        .trunk_config(id)
        .is_none_or(|c| c.reregisters_on_recovery(engine.config()));
    let what = match origin {
        _ if !wanted => Reregister::Declined,
        Origin::Freeswitch => freeswitch
            .reregister_command(name)
            .map_or(Reregister::NoProfile, Reregister::Run),
        Origin::Asterisk => Reregister::Run(format!("pjsip send register {name}")),
        Origin::Other => Reregister::Host,
    };
    (origin, what)
}

/// The From user of a probe when the trunk has none.
pub const DEFAULT_PROBE_USER: &str = "regwatch";

/// How long a probe may take when its deadline has passed already.
pub const LATE_PROBE_TIMEOUT_MS: u32 = 1_000;

/// A keep-alive probe as a host sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    /// The Request-URI domain and TLS name (the target host when the trunk
    /// has no domain).
    pub domain: String,
    /// The From user ([`DEFAULT_PROBE_USER`] when the trunk has none).
    pub user: String,
    /// The time left until the engine's deadline
    /// ([`LATE_PROBE_TIMEOUT_MS`] when it has passed).
    pub timeout_ms: u32,
    /// Whether it goes over another transport than the trunk's own (an
    /// alternate probe): a PBX sends it with regwatch's driver, not its
    /// own SIP stack.
    pub via_driver: bool,
}

impl ProbeRequest {
    /// The request for `p` at `now_ms`.
    pub fn of(p: &Probe, now_ms: u64) -> ProbeRequest {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_owned()
            } else {
                s.to_owned()
            }
        };
        ProbeRequest {
            domain: or(&p.target.domain, &p.target.host),
            user: or(&p.target.username, DEFAULT_PROBE_USER),
            timeout_ms: match p.deadline_ms.checked_sub(now_ms) {
                Some(left) if left > 0 => u32::try_from(left).unwrap_or(u32::MAX),
                _ => LATE_PROBE_TIMEOUT_MS,
            },
            via_driver: matches!(
                p.purpose,
                ProbePurpose::Alternate | ProbePurpose::CredentialQuery
            ),
        }
    }
}

#[cfg(test)]
mod tests;
