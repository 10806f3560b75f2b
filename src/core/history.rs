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
    /// The account query after an unexplained 403 was answered (its code
    /// in the entry).
    AccountQuery,
    /// The credential query (a REGISTER without Contact, with the trunk's
    /// credentials) changed its verdict (its code in the entry).
    CredentialQuery,
    /// State and cause taken over from the engine before a module reload.
    CarriedOver,
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
            HistoryKind::AccountQuery => {
                f.write_str("query REGISTER (no Contact, no credentials) answered")
            }
            HistoryKind::CredentialQuery => {
                f.write_str("query REGISTER (no Contact, with credentials) answered")
            }
            HistoryKind::CarriedOver => f.write_str("carried over from before the module reload"),
        }
    }
}

/// One entry of a trunk's history (what a snapshot shows; stored in 24 bytes).
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
    /// How many more times the cycle that ends with this entry happened
    /// (a retry answered the same way): 0 for an entry seen once. See
    /// [`EngineConfig::history_fold`](crate::core::EngineConfig::history_fold).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub repeats: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// The longest cycle of entries folded: a retry with a challenge is four
/// (REGISTER, 401/407, REGISTER with credentials, the final answer), five
/// or six with the PBX's own state reports.
const FOLD_PERIOD: usize = 6;

/// An entry as the ring keeps it: 24 bytes, so that a full history of 32
/// stays within the per-trunk memory budget (README, "Memory").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    at_ms: u64,
    /// `u32::MAX`: none.
    expires: u32,
    repeats: u16,
    kind: HistoryKind,
    code: u16,
    transport: Option<Transport>,
    credentials: bool,
    state: RegState,
    cause: Cause,
}

const NO_EXPIRES: u32 = u32::MAX;

impl Stored {
    fn of(e: &HistoryEntry) -> Stored {
        Stored {
            at_ms: e.at_ms,
            expires: e.expires.map_or(NO_EXPIRES, |x| x.min(NO_EXPIRES - 1)),
            repeats: u16::try_from(e.repeats).unwrap_or(u16::MAX),
            kind: e.kind,
            code: e.code,
            transport: e.transport,
            credentials: e.credentials,
            state: e.state,
            cause: e.cause,
        }
    }

    fn entry(&self) -> HistoryEntry {
        HistoryEntry {
            at_ms: self.at_ms,
            kind: self.kind,
            expires: (self.expires != NO_EXPIRES).then_some(self.expires),
            code: self.code,
            transport: self.transport,
            credentials: self.credentials,
            state: self.state,
            cause: self.cause,
            repeats: u32::from(self.repeats),
        }
    }

    /// The same event but for its time and count.
    fn same_as(&self, o: &Stored) -> bool {
        Stored {
            at_ms: o.at_ms,
            repeats: o.repeats,
            ..*self
        } == *o
    }
}

fn is_zero(c: &u16) -> bool {
    *c == 0
}

/// A bounded ring: the oldest entry goes when a new one comes.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    ring: VecDeque<Stored>,
}

impl History {
    /// Adds `e`; with `fold`, an entry that completes a repetition of the
    /// cycle before it (the last `p` entries, `p` ≤ 6, equal the `p`
    /// before them but for their times) replaces the repetition: the
    /// cycle's last entry counts one more repeat and takes the new time.
    /// A PBX that retries a rejected REGISTER all day keeps one cycle.
    pub(crate) fn push_folded(&mut self, cap: usize, e: HistoryEntry, fold: bool) {
        let e = Stored::of(&e);
        if fold {
            for p in 1..=FOLD_PERIOD {
                let n = self.ring.len();
                // The new cycle is ring[n-p+1..] + e; the one before it
                // ends at ring[n-p].
                if n < 2 * p - 1 {
                    break;
                }
                let new_start = n + 1 - p;
                let old_start = new_start - p;
                let repeats = (0..p - 1)
                    .all(|i| self.ring[new_start + i].same_as(&self.ring[old_start + i]))
                    && e.same_as(&self.ring[new_start - 1]);
                if repeats {
                    self.ring.truncate(new_start);
                    if let Some(last) = self.ring.back_mut() {
                        last.repeats = last.repeats.saturating_add(1);
                        last.at_ms = e.at_ms;
                    }
                    return;
                }
            }
        }
        self.push(cap, e);
    }

    fn push(&mut self, cap: usize, e: Stored) {
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
    ) -> impl DoubleEndedIterator<Item = HistoryEntry> + ExactSizeIterator + '_ {
        self.ring.iter().map(Stored::entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(at_ms: u64, kind: HistoryKind, code: u16, state: RegState, cause: Cause) -> HistoryEntry {
        HistoryEntry {
            at_ms,
            kind,
            expires: None,
            code,
            transport: None,
            credentials: false,
            state,
            cause,
            repeats: 0,
        }
    }

    /// One Asterisk retry against a wrong password: REGISTER, 407,
    /// REGISTER with credentials, 403.
    fn retry(at: u64) -> [HistoryEntry; 4] {
        let (st, c) = (RegState::Rejected, Cause::CredentialsRejected);
        let mut with_creds = e(at + 2, HistoryKind::RegisterSent, 0, st, c);
        with_creds.credentials = true;
        [
            e(at, HistoryKind::RegisterSent, 0, st, c),
            e(at + 1, HistoryKind::Response, 407, st, c),
            with_creds,
            e(at + 3, HistoryKind::Response, 403, st, c),
        ]
    }

    fn kinds(h: &History) -> Vec<(u16, bool, u32)> {
        h.entries()
            .map(|e| (e.code, e.credentials, e.repeats))
            .collect()
    }

    #[test]
    fn a_day_of_identical_retries_keeps_one_cycle_and_a_count() {
        let mut h = History::default();
        let first = e(
            0,
            HistoryKind::Configured,
            0,
            RegState::Unknown,
            Cause::Unknown,
        );
        h.push_folded(32, first, true);
        // Every 60 s for 24 h.
        for i in 0..1440 {
            for x in retry(1000 + i * 60_000) {
                h.push_folded(32, x, true);
            }
        }
        // One cycle, its last entry counting the other 1,439.
        assert_eq!(h.entries().len(), 1 + 4);
        assert_eq!(
            kinds(&h),
            vec![
                (0, false, 0),
                (0, false, 0),
                (407, false, 0),
                (0, true, 0),
                (403, false, 1439)
            ]
        );
        assert_eq!(h.entries().last().unwrap().at_ms, 1000 + 1439 * 60_000 + 3);
    }

    #[test]
    fn a_different_answer_breaks_the_cycle() {
        let mut h = History::default();
        for x in retry(0).into_iter().chain(retry(100)) {
            h.push_folded(32, x, true);
        }
        assert_eq!(h.entries().len(), 4);
        let mut other = retry(200);
        other[3].code = 404;
        other[3].cause = Cause::DomainNotFound;
        for x in other {
            h.push_folded(32, x, true);
        }
        assert_eq!(h.entries().len(), 8);
        assert_eq!(h.entries().last().unwrap().code, 404);
        assert_eq!(h.entries().nth(3).unwrap().repeats, 1);
    }

    #[test]
    fn without_fold_every_entry_stays() {
        let mut h = History::default();
        for i in 0..5 {
            for x in retry(i * 100) {
                h.push_folded(32, x, false);
            }
        }
        assert_eq!(h.entries().len(), 20);
        assert!(h.entries().all(|e| e.repeats == 0));
    }

    #[test]
    fn an_entry_is_stored_in_24_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
        let mut x = e(
            7,
            HistoryKind::Response,
            200,
            RegState::Registered,
            Cause::Healthy,
        );
        for expires in [None, Some(0), Some(600), Some(u32::MAX - 1)] {
            x.expires = expires;
            assert_eq!(Stored::of(&x).entry(), x);
        }
    }

    #[test]
    fn identical_consecutive_entries_fold() {
        let mut h = History::default();
        for i in 0..10 {
            h.push_folded(
                32,
                e(
                    i,
                    HistoryKind::KeepAliveDown,
                    0,
                    RegState::Registered,
                    Cause::RegistrarUnreachable,
                ),
                true,
            );
        }
        assert_eq!(kinds(&h), vec![(0, false, 9)]);
    }
}
