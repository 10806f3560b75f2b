//! What the engine says: outputs drained with `poll_output`.
use super::keepalive::Probe;
use super::state::{Cause, RegState};
use super::TrunkId;
use crate::validate::{Finding, Severity};
use serde::Serialize;
use std::sync::Arc;

/// One output of the engine.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "output")]
pub enum Output {
    /// Something to tell people.
    Event(Event),
    /// Something the host should do.
    Action(Action),
    /// An OPTIONS probe to send (keep-alive on): send it, then report
    /// the result with [`Engine::handle_probe_result`](super::Engine::handle_probe_result)
    /// before `deadline_ms`, or let the engine count it as a timeout.
    Transmit(Probe),
}

/// An event: a change worth telling people about.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Event {
    /// The trunk's registration state or cause changed.
    StateChanged {
        /// The trunk.
        #[serde(skip)]
        trunk: TrunkId,
        /// Its name.
        name: Arc<str>,
        /// When, in the engine's milliseconds.
        at_ms: u64,
        /// The state before.
        from: RegState,
        /// The state now.
        to: RegState,
        /// The cause now.
        cause: Cause,
        /// The status code that caused it, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
    },
    /// A problem needs attention (raised again when its cause changes).
    AlertRaised {
        /// The trunk.
        #[serde(skip)]
        trunk: TrunkId,
        /// Its name.
        name: Arc<str>,
        /// When.
        at_ms: u64,
        /// Why.
        cause: Cause,
        /// How serious.
        severity: Severity,
        /// The state now.
        state: RegState,
        /// The status code behind it, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
        /// One line, in plain words.
        summary: String,
    },
    /// The problem is over.
    AlertCleared {
        /// The trunk.
        #[serde(skip)]
        trunk: TrunkId,
        /// Its name.
        name: Arc<str>,
        /// When.
        at_ms: u64,
        /// The cause that was alerted.
        cause: Cause,
        /// The state now.
        state: RegState,
    },
    /// A validation finding about the trunk's configuration (emitted when
    /// the trunk is added or updated).
    Finding {
        /// The trunk.
        #[serde(skip)]
        trunk: TrunkId,
        /// Its name.
        name: Arc<str>,
        /// The finding.
        finding: Finding,
    },
}

impl Event {
    /// The trunk the event is about.
    pub fn trunk(&self) -> TrunkId {
        match self {
            Event::StateChanged { trunk, .. }
            | Event::AlertRaised { trunk, .. }
            | Event::AlertCleared { trunk, .. }
            | Event::Finding { trunk, .. } => *trunk,
        }
    }

    /// The trunk's name.
    pub fn name(&self) -> &str {
        match self {
            Event::StateChanged { name, .. }
            | Event::AlertRaised { name, .. }
            | Event::AlertCleared { name, .. }
            | Event::Finding { name, .. } => name,
        }
    }
}

/// Something the host should do for a trunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// Re-send REGISTER for this trunk now (for example when the registrar
    /// is reachable again after an outage).
    ReRegister {
        /// The trunk.
        #[serde(skip)]
        trunk: TrunkId,
        /// Its name.
        name: Arc<str>,
    },
}
