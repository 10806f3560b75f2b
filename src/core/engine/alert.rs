//! The alert policy: a new (state, cause) is recorded in the trunk's
//! history and comes out as a state change; an alert is raised when the
//! pair deserves one ([`alert_wanted`]) and cleared when it no longer does.
//! A keep-alive outage stands in for a quiet registration's cause.
use super::{registration::unreachable_cause, Engine, TrunkId};
use crate::core::diagnosis;
use crate::core::event::{Event, Output};
use crate::core::history::{HistoryEntry, HistoryKind};
use crate::core::state::{Cause, RegState};
use crate::validate::Severity;

impl Engine {
    pub(super) fn transition(
        &mut self,
        at: u64,
        id: TrunkId,
        kind: HistoryKind,
        state: RegState,
        cause: Cause,
        code: Option<u16>,
    ) {
        self.transition_with(at, id, kind, state, cause, code, |_| {});
    }

    /// Applies a new (state, cause), records history, emits events and
    /// raises or clears the alert.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transition_with(
        &mut self,
        at: u64,
        id: TrunkId,
        kind: HistoryKind,
        state: RegState,
        cause: Cause,
        code: Option<u16>,
        fill: impl FnOnce(&mut HistoryEntry),
    ) {
        let cap = self.cfg.history_len;
        let ratio = self.cfg.refresh_ratio;
        let now = self.now_ms;
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
        let mut entry = HistoryEntry {
            at_ms: at,
            kind,
            expires: None,
            code: 0,
            transport: None,
            credentials: false,
            state,
            cause,
        };
        t.reg_cause = cause;
        // A keep-alive outage explains a quiet or late registration better
        // than the registration's own cause; any real failure wins.
        let cause = match (t.ka.down(), cause) {
            (
                Some(k),
                Cause::Healthy
                | Cause::Unknown
                | Cause::RefreshLate
                | Cause::RegistrationExpired
                | Cause::ExpiryDrift,
            ) => k,
            (_, c) => c,
        };
        entry.cause = cause;
        fill(&mut entry);
        t.history.push(cap, entry);
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
        self.out.push_back(Output::Event(Event::StateChanged {
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
                    let summary = diagnosis::summary(c, &t.facts(now, ratio));
                    if c.severity() >= Severity::Error {
                        tracing::error!(trunk = %t.config.name, cause = c.as_str(), "{summary}");
                    } else {
                        tracing::warn!(trunk = %t.config.name, cause = c.as_str(), "{summary}");
                    }
                    self.out.push_back(Output::Event(Event::AlertRaised {
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
                        self.out.push_back(Output::Event(Event::AlertCleared {
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
}

/// Whether a (state, cause) pair deserves an alert.
pub(super) fn alert_wanted(state: RegState, cause: Cause) -> bool {
    match state {
        // Unknown: nothing registered yet, but validation or the keep-alive
        // may already know it cannot work.
        RegState::Unknown => {
            cause == Cause::ConfigInvalid || unreachable_cause(cause) || cause == Cause::ServerError
        }
        RegState::Deregistered => false,
        RegState::Expired | RegState::Rejected | RegState::Unreachable | RegState::Stopped => true,
        RegState::Registering | RegState::Registered | RegState::RefreshLate => {
            cause.severity() >= Severity::Warning && cause != Cause::Unknown
        }
    }
}
