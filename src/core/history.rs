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

/// One entry of a trunk's history (what a snapshot shows; stored in 20 bytes).
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

/// An entry as the ring keeps it: 20 bytes (no field wider than 32
/// bits, so no padding to 8), so that a full history of 32 stays well
/// within the per-trunk memory budget (README, "Memory").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    /// The time's low 32 bits; `at_hi` holds the next 16 (a time past
    /// 2^48 ms, some 8,900 years, is kept as 2^48 - 1).
    at_lo: u32,
    at_hi: u16,
    /// `u32::MAX`: none.
    expires: u32,
    repeats: u16,
    kind: HistoryKind,
    code: u16,
    /// The transport (0: none, else its place in `Transport::ALL` plus
    /// one) and, in the high bit, whether the REGISTER had credentials.
    transport_creds: u8,
    state: RegState,
    cause: Cause,
    /// A byte that sums up the fields [`Stored::same_as`] compares but the
    /// kind (never 0), held in what would be padding: entries whose `sig`
    /// differ differ. See [`History::recent`].
    sig: u8,
}

const NO_EXPIRES: u32 = u32::MAX;

impl Stored {
    fn of(e: &HistoryEntry) -> Stored {
        let expires = e.expires.map_or(NO_EXPIRES, |x| x.min(NO_EXPIRES - 1));
        let h = u32::from(e.code)
            ^ expires.wrapping_mul(0x9E37_79B9)
            ^ (e.state as u32) << 10
            ^ (e.cause as u32) << 14
            ^ u32::from(e.credentials) << 21
            ^ e.transport.map_or(0, |t| t as u32 + 1) << 29;
        let sig = (h ^ h >> 8 ^ h >> 16 ^ h >> 24) as u8;
        let (at_lo, at_hi) = split_time(e.at_ms);
        Stored {
            at_lo,
            at_hi,
            expires,
            repeats: u16::try_from(e.repeats).unwrap_or(u16::MAX),
            kind: e.kind,
            code: e.code,
            transport_creds: e.transport.map_or(0, |t| t as u8 + 1) | u8::from(e.credentials) << 7,
            state: e.state,
            cause: e.cause,
            sig: sig.max(1),
        }
    }

    fn entry(&self) -> HistoryEntry {
        HistoryEntry {
            at_ms: u64::from(self.at_hi) << 32 | u64::from(self.at_lo),
            kind: self.kind,
            expires: (self.expires != NO_EXPIRES).then_some(self.expires),
            code: self.code,
            transport: match self.transport_creds & 0x7f {
                0 => None,
                n => Transport::ALL.get(usize::from(n) - 1).copied(),
            },
            credentials: self.transport_creds & 0x80 != 0,
            state: self.state,
            cause: self.cause,
            repeats: u32::from(self.repeats),
        }
    }

    /// The same event but for its time and count.
    #[inline]
    fn same_as(&self, o: &Stored) -> bool {
        // Every field but the time and `repeats` (destructured, so that a
        // field added later cannot be forgotten here).
        let Stored {
            at_lo: _,
            at_hi: _,
            repeats: _,
            sig,
            expires,
            kind,
            code,
            transport_creds,
            state,
            cause,
        } = *self;
        sig == o.sig
            && code == o.code
            && transport_creds == o.transport_creds
            && expires == o.expires
            && state == o.state
            && cause == o.cause
            && kind == o.kind
    }
}

/// A time in milliseconds as its low 32 bits and the next 16 (saturated).
fn split_time(at_ms: u64) -> (u32, u16) {
    let at = at_ms.min((1 << 48) - 1);
    (at as u32, (at >> 32) as u16)
}

fn is_zero(c: &u16) -> bool {
    *c == 0
}

/// A bounded ring: the oldest entry goes when a new one comes.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    ring: VecDeque<Stored>,
    /// The `sig` of the last eight entries, the newest in the low byte (0
    /// where there is none): the periods a new entry may complete are
    /// found in a few word operations, and only those are compared.
    recent: u64,
}

impl History {
    /// Adds `e`; with `fold`, an entry that completes a repetition of the
    /// cycle before it (the last `p` entries, `p` ≤ 6, equal the `p`
    /// before them but for their times) replaces the repetition: the
    /// cycle's last entry counts one more repeat and takes the new time.
    /// A PBX that retries a rejected REGISTER all day keeps one cycle.
    pub(crate) fn push_folded(&mut self, cap: usize, e: HistoryEntry, fold: bool) {
        let e = Stored::of(&e);
        if fold && self.fold(&e) {
            return;
        }
        self.push(cap, e);
    }

    /// Folds `e` into the cycle it completes, if it completes one (see
    /// [`History::push_folded`]).
    fn fold(&mut self, e: &Stored) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let n = self.ring.len();
        let periods = FOLD_PERIOD.min(n.div_ceil(2));
        // Byte p-1 of `recent` is the sig of ring[n-p], which `e` must
        // repeat for period p: the zero bytes of `x` (exact: no borrow
        // crosses into a byte above a zero one's lowest).
        let x = self.recent ^ (u64::from(e.sig) * ONES);
        let mut zero = !(((x & !(ONES << 7)) + !(ONES << 7)) | x | !(ONES << 7));
        zero &= (1u64 << (8 * periods)) - 1;
        let mut found = None;
        while zero != 0 {
            let p = zero.trailing_zeros() as usize / 8 + 1;
            zero &= zero - 1;
            let prev_end = n - p;
            let r = &self.ring;
            if e.same_as(&r[prev_end])
                && (1..p).all(|i| r[prev_end + i].same_as(&r[prev_end + i - p]))
            {
                found = Some(p);
                break;
            }
        }
        let Some(p) = found else {
            return false;
        };
        self.ring.truncate(n + 1 - p);
        if let Some(last) = self.ring.back_mut() {
            last.repeats = last.repeats.saturating_add(1);
            (last.at_lo, last.at_hi) = (e.at_lo, e.at_hi);
        }
        // A cycle of one entry leaves the ring's signatures as they were.
        if p > 1 {
            let (a, b) = self.ring.as_slices();
            let tail_a = &a[a.len() - 8usize.saturating_sub(b.len()).min(a.len())..];
            let tail_b = &b[b.len().saturating_sub(8)..];
            self.recent = tail_a
                .iter()
                .chain(tail_b)
                .fold(0, |acc, s| acc << 8 | u64::from(s.sig));
        }
        true
    }

    fn push(&mut self, cap: usize, e: Stored) {
        // Grows as entries come (4, 8, 16... never past `cap`): a trunk
        // with a short history (most of a large capture's) keeps a small
        // ring, a full one exactly `cap` entries.
        if self.ring.len() == self.ring.capacity() && self.ring.capacity() < cap {
            // (Not `clamp(4, cap)`: that panics for a history shorter
            // than 4, which `history_len` allows.)
            let want = (self.ring.capacity() * 2).max(4).min(cap);
            self.ring.reserve_exact(want - self.ring.len());
        }
        while self.ring.len() >= cap.max(1) {
            self.ring.pop_front();
        }
        self.ring.push_back(e);
        self.recent = self.recent << 8 | u64::from(e.sig);
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
    fn an_entry_is_stored_in_20_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 20);
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
        // Every transport with and without credentials, and times past 32
        // bits (an epoch in milliseconds) up to the 48 bits kept.
        let transports = [None].into_iter().chain(Transport::ALL.map(Some));
        for (transport, credentials) in transports.flat_map(|t| [(t, false), (t, true)]) {
            for at_ms in [0, u64::from(u32::MAX), 1_764_900_000_000, (1 << 48) - 1] {
                let y = HistoryEntry {
                    at_ms,
                    transport,
                    credentials,
                    ..x
                };
                assert_eq!(Stored::of(&y).entry(), y);
            }
        }
        let far = HistoryEntry {
            at_ms: u64::MAX,
            ..x
        };
        assert_eq!(Stored::of(&far).entry().at_ms, (1 << 48) - 1);
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

    /// The fold as first written (every period, every entry compared
    /// through the ring's index), kept as the reference.
    fn reference_push(ring: &mut VecDeque<Stored>, cap: usize, e: Stored) {
        for p in 1..=FOLD_PERIOD {
            let n = ring.len();
            if n < 2 * p - 1 {
                break;
            }
            let new_start = n + 1 - p;
            let old_start = new_start - p;
            let repeats = (0..p - 1).all(|i| ring[new_start + i].same_as(&ring[old_start + i]))
                && e.same_as(&ring[new_start - 1]);
            if repeats {
                ring.truncate(new_start);
                if let Some(last) = ring.back_mut() {
                    last.repeats = last.repeats.saturating_add(1);
                    (last.at_lo, last.at_hi) = (e.at_lo, e.at_hi);
                }
                return;
            }
        }
        while ring.len() >= cap.max(1) {
            ring.pop_front();
        }
        ring.push_back(e);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// The fold with signatures folds exactly what the reference
        /// folds, on random runs drawn from a few entries (so cycles of
        /// every period up to 6 and beyond come up), for several ring
        /// sizes.
        #[test]
        fn the_fold_matches_the_reference(
            picks in proptest::collection::vec(0usize..5, 1..400),
            cap in proptest::sample::select(vec![1usize, 2, 3, 7, 12, 32]),
        ) {
            let (st, c) = (RegState::Rejected, Cause::CredentialsRejected);
            let alphabet = [
                e(0, HistoryKind::RegisterSent, 0, st, c),
                e(0, HistoryKind::Response, 407, st, c),
                HistoryEntry { credentials: true, ..e(0, HistoryKind::RegisterSent, 0, st, c) },
                e(0, HistoryKind::Response, 403, st, c),
                e(0, HistoryKind::Timeout, 0, st, c),
            ];
            let mut h = History::default();
            let mut reference = VecDeque::new();
            for (t, &k) in picks.iter().enumerate() {
                let x = HistoryEntry { at_ms: t as u64, ..alphabet[k] };
                h.push_folded(cap, x, true);
                reference_push(&mut reference, cap, Stored::of(&x));
                let got: Vec<_> = h.entries().collect();
                let want: Vec<_> = reference.iter().map(Stored::entry).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
