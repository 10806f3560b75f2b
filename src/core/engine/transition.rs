//! [`Transition`]: a new (state, cause) for a trunk, as the registration,
//! keep-alive and query inputs ask for it and the alert policy
//! (`alert.rs`) records it.
use crate::core::history::HistoryKind;
use crate::core::state::{Cause, RegState};
use crate::validate::Transport;

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
