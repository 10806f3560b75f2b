//! The per-trunk ring of recent registration events.
use super::observation::{HostState, TransportErrorKind};
use super::state::{Cause, RegState};
use crate::validate::Transport;
use serde::Serialize;
use std::collections::VecDeque;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum HistoryKind {
    /// The trunk was added or its configuration changed.
    Configured,
    /// A REGISTER was sent (`expires` = requested; `credentials` set).
    RegisterSent,
    /// A final response arrived (`code`, `expires` = granted).
    Response,
    /// A REGISTER timed out.
    Timeout,
    /// A REGISTER could not be delivered.
    TransportError(TransportErrorKind),
    /// The binding was removed on purpose.
    Deregistered,
    /// The host reported a state.
    HostState(HostState),
    /// The refresh point (plus grace) passed without a successful refresh.
    RefreshMissed,
    /// The binding lapsed.
    BindingLapsed,
    /// OPTIONS keep-alives failed often enough to raise the alert (`code`
    /// = the last status, if any).
    KeepAliveDown,
    /// OPTIONS keep-alives are answered again.
    KeepAliveUp,
}

impl std::fmt::Display for HistoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistoryKind::Configured => f.write_str("configured"),
            HistoryKind::RegisterSent => f.write_str("REGISTER sent"),
            HistoryKind::Response => f.write_str("response"),
            HistoryKind::Timeout => f.write_str("timeout"),
            HistoryKind::TransportError(k) => write!(f, "transport error ({})", k.as_str()),
            HistoryKind::Deregistered => f.write_str("deregistered"),
            HistoryKind::HostState(h) => write!(f, "host reports {}", h.as_str()),
            HistoryKind::RefreshMissed => f.write_str("refresh point missed"),
            HistoryKind::BindingLapsed => f.write_str("binding lapsed"),
            HistoryKind::KeepAliveDown => f.write_str("keep-alive failing"),
            HistoryKind::KeepAliveUp => f.write_str("keep-alive answered again"),
        }
    }
}

/// One entry of a trunk's history (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When, in the engine's monotonic milliseconds.
    pub at_ms: u64,
    /// What.
    #[serde(flatten)]
    pub kind: HistoryKind,
    /// Requested (REGISTER sent) or granted (2xx) expiry, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u32>,
    /// The status code of a response (0 otherwise).
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
    /// The transport, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// Whether a REGISTER carried credentials.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub credentials: bool,
    /// The state after this event.
    pub state: RegState,
    /// The cause after this event.
    pub cause: Cause,
}

fn is_zero(c: &u16) -> bool {
    *c == 0
}

/// A bounded ring: the oldest entry goes when a new one comes.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    ring: VecDeque<HistoryEntry>,
}

impl History {
    pub(crate) fn push(&mut self, cap: usize, e: HistoryEntry) {
        // Grows as entries come (4, 8, 16... never past `cap`): a trunk
        // with a short history (most of a large capture's) keeps a small
        // ring, a full one exactly `cap` entries.
        if self.ring.len() == self.ring.capacity() && self.ring.capacity() < cap {
            let want = (self.ring.capacity() * 2).clamp(4, cap);
            self.ring.reserve_exact(want - self.ring.len());
        }
        while self.ring.len() >= cap.max(1) {
            self.ring.pop_front();
        }
        self.ring.push_back(e);
    }

    pub(crate) fn entries(
        &self,
    ) -> impl DoubleEndedIterator<Item = &HistoryEntry> + ExactSizeIterator {
        self.ring.iter()
    }
}
