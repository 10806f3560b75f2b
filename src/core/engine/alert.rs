//! The alert policy: a [`Transition`] (a new state and cause) is recorded
//! in the trunk's history and comes out as a state change; an alert is
//! raised when the pair deserves one ([`alert_wanted`]) and cleared when it
//! no longer does. A keep-alive outage, else what the credential query
//! found, stands in for a quiet registration's cause.
use super::classify::reachability_only;
use super::{Engine, TrunkId};
use crate::core::diagnosis;
use crate::core::event::{Event, Output};
use crate::core::history::{HistoryEntry, HistoryKind};
use crate::core::state::{Cause, RegState};
use crate::validate::{Severity, Transport};

/// A new (state, cause) for a trunk, with the details of its history entry.
#[derive(Clone, Copy, Debug)]
pub(super) struct Transition {
    pub(super) at: u64,
    pub(super) kind: HistoryKind,
    pub(super) state: RegState,
    /// The cause from registration evidence (the keep-alive may stand in
    /// for it, see [`Engine::transition`]).
    pub(super) cause: Cause,
    /// The SIP code behind the cause, for the events (None: the code known
    /// before stays if the cause does).
    pub(super) code: Option<u16>,
    /// The history entry's code (0: none).
    pub(super) entry_code: u16,
    /// The history entry's expiry.
    pub(super) expires: Option<u32>,
    /// The history entry's transport.
    pub(super) transport: Option<Transport>,
    /// Whether the history entry's REGISTER carried credentials.
    pub(super) credentials: bool,
}

impl Transition {
    /// A transition with a bare history entry.
    pub(super) fn new(
        at: u64,
        kind: HistoryKind,
        state: RegState,
        cause: Cause,
        code: Option<u16>,
    ) -> Transition {
        Transition {
            at,
            kind,
            state,
            cause,
            code,
            entry_code: 0,
            expires: None,
            transport: None,
            credentials: false,
        }
    }

    /// The history entry records a response: its code and transport.
    pub(super) fn response(mut self, code: u16, transport: Option<Transport>) -> Transition {
        self.entry_code = code;
        self.transport = transport;
        self
    }
}

impl Engine {
    /// Applies a new (state, cause): records history, emits the state
    /// change and raises or clears the alert.
    pub(super) fn transition(&mut self, id: TrunkId, tr: Transition) {
        let Transition {
            at,
            kind,
            state,
            cause,
            code,
            ..
        } = tr;
        let (cap, fold) = (self.cfg.history_len, self.cfg.history_fold);
        let now = self.now_ms;
        let Some(t) = self.slots.get_mut(id) else {
            return;
        };
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
        let cause = match (t.ka.down(), t.cq.cause()) {
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
                    let summary = diagnosis::summary(c, &t.facts(now, &self.cfg));
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
