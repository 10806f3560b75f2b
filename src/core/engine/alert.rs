//! The alert policy: a [`Transition`] (a new state and cause) is recorded
//! in the trunk's history and comes out as a state change; an alert is
//! raised when the pair deserves one ([`alert_wanted`]) and cleared when it
//! no longer does. A keep-alive outage, else what the credential query
//! found, stands in for a quiet registration's cause.
use super::classify::reachability_only;
use super::transition::Transition;
use super::trunk::Trunk;
use super::{Engine, TrunkId};
use crate::core::config::EngineConfig;
use crate::core::diagnosis;
use crate::core::event::{Event, Output};
use crate::core::history::HistoryEntry;
use crate::core::state::{Cause, RegState};
use crate::validate::Severity;
use std::collections::VecDeque;

impl Engine {
    /// Applies a new (state, cause): records history, emits the state
    /// change and raises or clears the alert.
    pub(super) fn transition(&mut self, id: TrunkId, tr: Transition) {
        if let Some(t) = self.slots.get_mut(id) {
            record(t, tr, &self.cfg, self.now_ms, &mut self.out);
        }
    }
}

/// [`Engine::transition`] on a trunk already in hand (an observation's
/// path looks the trunk up once): the engine's parts it needs are passed
/// apart from the slot map that holds `t`.
#[inline]
pub(super) fn record(
    t: &mut Trunk,
    tr: Transition,
    cfg: &EngineConfig,
    now: u64,
    out: &mut VecDeque<Output>,
) {
    let id = t.id;
    let Transition {
        at,
        kind,
        state,
        cause,
        code,
        ..
    } = tr;
    let (cap, fold) = (cfg.history_len, cfg.history_fold);
    let mut entry = HistoryEntry {
        at_ms: at,
        kind,
        expires: tr.expires,
        code: tr.entry_code,
        transport: tr.transport,
        credentials: tr.credentials,
        state,
        cause,
        repeats: 0,
    };
    t.reg_cause = cause;
    // A keep-alive outage explains a quiet or late registration better
    // than the registration's own cause; any real failure wins.
    // So does what the credential query found (a refused password, a
    // binding the registrar lost), unless the registrar is unreachable
    // now.
    let quiet = matches!(
        cause,
        Cause::Healthy
            | Cause::Unknown
            | Cause::RefreshLate
            | Cause::RegistrationExpired
            | Cause::ExpiryDrift
    );
    debug_assert_eq!(
        t.ka_down,
        t.ka.down(),
        "the hot copy of the keep-alive's alert"
    );
    let cause = match (t.ka_down, t.cq.cause()) {
        (Some(k), _) if quiet => k,
        (None, Some(q)) if quiet => q,
        _ => cause,
    };
    entry.cause = cause;
    t.history.push_folded(cap, entry, fold);
    let (from, old_cause) = (t.state, t.cause);
    if from == state && old_cause == cause {
        return;
    }
    t.state = state;
    t.cause = cause;
    t.cause_code = code.or(t.cause_code.filter(|_| old_cause == cause));
    tracing::debug!(
        trunk = %t.config.name,
        from = from.as_str(),
        to = state.as_str(),
        cause = cause.as_str(),
        "registration state changed"
    );
    out.push_back(Output::Event(Event::StateChanged {
        trunk: id,
        name: t.config.name.clone(),
        at_ms: at,
        from,
        to: state,
        cause,
        code,
    }));
    let wanted = alert_wanted(state, cause).then_some(cause);
    if wanted != t.alert {
        let previous = std::mem::replace(&mut t.alert, wanted);
        match wanted {
            Some(c) => {
                let summary = diagnosis::summary(c, &t.facts(now, cfg));
                if c.severity() >= Severity::Error {
                    tracing::error!(trunk = %t.config.name, cause = c.as_str(), "{summary}");
                } else {
                    tracing::warn!(trunk = %t.config.name, cause = c.as_str(), "{summary}");
                }
                out.push_back(Output::Event(Event::AlertRaised {
                    trunk: id,
                    name: t.config.name.clone(),
                    at_ms: at,
                    cause: c,
                    severity: c.severity().max(Severity::Warning),
                    state,
                    code: t.cause_code,
                    summary,
                }))
            }
            None => {
                if let Some(p) = previous {
                    tracing::info!(trunk = %t.config.name, cause = p.as_str(), "alert cleared");
                    out.push_back(Output::Event(Event::AlertCleared {
                        trunk: id,
                        name: t.config.name.clone(),
                        at_ms: at,
                        cause: p,
                        state,
                    }))
                }
            }
        }
    }
}

/// Whether a (state, cause) pair deserves an alert.
pub(super) fn alert_wanted(state: RegState, cause: Cause) -> bool {
    match state {
        // Unknown: nothing registered yet, but validation or the keep-alive
        // may already know it cannot work.
        // The credential query may know what no REGISTER has shown yet.
        RegState::Unknown => {
            cause == Cause::ConfigInvalid
                || reachability_only(cause)
                || cause == Cause::ServerError
                || matches!(
                    cause,
                    Cause::CredentialsRejected
                        | Cause::AccountForbidden
                        | Cause::AuthUsernameMismatch
                        | Cause::DomainNotFound
                        | Cause::BindingMissing
                )
        }
        RegState::Deregistered => false,
        RegState::Expired | RegState::Rejected | RegState::Unreachable | RegState::Stopped => true,
        RegState::Registering | RegState::Registered | RegState::RefreshLate => {
            cause.severity() >= Severity::Warning && cause != Cause::Unknown
        }
    }
}
