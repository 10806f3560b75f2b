//! [`TrunkCounters`]: what a trunk counts for metrics (registration
//! attempts, failures by cause, the registration request delay of RFC
//! 6076 §4.1 as a histogram, the last successful registration). Kept small:
//! the engine's memory budget is 4 KiB per trunk.
use crate::core::state::Cause;
use serde::Serialize;

/// Upper bounds (milliseconds) of the registration request delay
/// histogram's buckets; a last bucket (+Inf) holds the rest.
pub const DELAY_BUCKETS_MS: [u64; 7] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// Counters of one trunk, from the observations the engine was given.
/// They only grow (until the engine is dropped; a host's reload that
/// updates a trunk keeps them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrunkCounters {
    /// Registration attempts: a REGISTER that does not answer a challenge
    /// (the challenge's answer belongs to the same attempt).
    pub attempts: u32,
    /// REGISTERs seen sent (a challenge's answer is a second one).
    pub registers: u64,
    /// Failed attempts by cause, only for causes seen (sorted by cause).
    failures: Box<[(Cause, u32)]>,
    /// Registration request delays (RFC 6076 §4.1: from the attempt's
    /// first REGISTER to its 2xx, the challenge round included), counted
    /// per bucket of [`DELAY_BUCKETS_MS`] and a last for the rest; not
    /// cumulative.
    delay_buckets: [u32; 8],
    /// The sum of those delays, in milliseconds.
    pub delay_sum_ms: u64,
    /// When a 2xx last made a binding, plus one (0: never).
    #[serde(skip)]
    last_ok: u64,
    /// When the attempt under way sent its first REGISTER, plus one (0:
    /// none under way): the delay runs from it.
    #[serde(skip)]
    started: u64,
    /// A failure whose cause the account query is about to tell (a 403
    /// the host reported without saying whether it answered a challenge):
    /// counted under the cause the answer names when it comes, else under
    /// this one at the trunk's next counted event, so that no failure is
    /// counted under a cause it must be taken back from (a counter only
    /// grows).
    #[serde(skip)]
    pending: Option<Cause>,
}

impl TrunkCounters {
    /// Failed attempts by cause, for the causes seen, by cause.
    pub fn failures(&self) -> &[(Cause, u32)] {
        &self.failures
    }

    /// Cumulative counts of the delay histogram: for each bound of
    /// [`DELAY_BUCKETS_MS`], the delays at or under it; then the count of all.
    pub fn delay_cumulative(&self) -> [u64; 8] {
        let mut out = [0u64; 8];
        let mut acc = 0u64;
        for (o, n) in out.iter_mut().zip(self.delay_buckets) {
            acc += u64::from(n);
            *o = acc;
        }
        out
    }

    /// When (engine milliseconds) a 2xx last made a binding.
    pub fn last_registered_at(&self) -> Option<u64> {
        self.last_ok.checked_sub(1)
    }

    fn count_failure_only(&mut self, cause: Cause) {
        match self.failures.binary_search_by(|(c, _)| c.cmp(&cause)) {
            Ok(i) => {
                if let Some((_, n)) = self.failures.get_mut(i) {
                    *n = n.saturating_add(1);
                }
            }
            Err(i) => {
                // A cause not seen before: rare, so the slice is remade.
                let mut v = std::mem::take(&mut self.failures).into_vec();
                v.insert(i, (cause, 1));
                self.failures = v.into_boxed_slice();
            }
        }
    }

    /// The attempt under way ended without a binding, its cause to be
    /// told by the account query (see [`TrunkCounters::settle_failure`]).
    pub(super) fn defer_failure(&mut self, cause: Cause) {
        self.settle_failure(None);
        self.started = 0;
        self.pending = Some(cause);
    }

    /// Counts the deferred failure, if any: under `cause` when the account
    /// query named one, else under the cause it was deferred with.
    pub(super) fn settle_failure(&mut self, cause: Option<Cause>) {
        if let Some(p) = self.pending.take() {
            self.count_failure_only(cause.unwrap_or(p));
        }
    }

    /// A REGISTER was sent; `continues`: it answers a challenge of the
    /// attempt under way.
    pub(super) fn count_sent(&mut self, now: u64, continues: bool) {
        self.settle_failure(None);
        self.registers = self.registers.saturating_add(1);
        if !continues || self.started == 0 {
            self.started = now.saturating_add(1);
        }
        if !continues {
            self.attempts = self.attempts.saturating_add(1);
        }
    }

    /// The attempt under way ended without a binding.
    pub(super) fn count_failure(&mut self, cause: Cause) {
        self.settle_failure(None);
        self.started = 0;
        self.count_failure_only(cause);
    }

    /// A binding was made at `now`: by a 2xx to the attempt under way
    /// (`answered`), or the host said so (no delay then).
    pub(super) fn count_registered(&mut self, now: u64, answered: bool) {
        self.settle_failure(None);
        self.last_ok = now.saturating_add(1);
        let started = std::mem::take(&mut self.started).checked_sub(1);
        if let Some(start) = started.filter(|_| answered) {
            let delay = now.saturating_sub(start);
            let i = DELAY_BUCKETS_MS
                .iter()
                .position(|b| delay <= *b)
                .unwrap_or(DELAY_BUCKETS_MS.len());
            if let Some(n) = self.delay_buckets.get_mut(i) {
                *n = n.saturating_add(1);
            }
            self.delay_sum_ms = self.delay_sum_ms.saturating_add(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_fall_in_their_buckets_and_accumulate() {
        let mut c = TrunkCounters::default();
        c.count_sent(900, false);
        c.count_registered(1_000, true); // 100 ms: the first bucket
        c.count_sent(1_899, false);
        c.count_sent(1_990, true); // the challenge's answer: same attempt
        c.count_registered(2_000, true); // 101 ms: the second
        c.count_sent(10_000, false);
        c.count_registered(30_000, true); // 20 s: +Inf
        c.count_registered(31_000, true); // not seen sent: not a delay
        c.count_sent(32_000, false);
        c.count_failure(Cause::RegistrarUnreachable);
        c.count_registered(33_000, false); // the host said so: no delay
        assert_eq!(c.delay_cumulative(), [1, 2, 2, 2, 2, 2, 2, 3]);
        assert_eq!(c.delay_sum_ms, 100 + 101 + 20_000);
        assert_eq!(c.last_registered_at(), Some(33_000));
        assert_eq!(c.attempts, 4);
        assert_eq!(c.registers, 5);
    }

    #[test]
    fn a_deferred_failure_counts_once_under_the_cause_it_is_given() {
        let mut c = TrunkCounters::default();
        c.count_sent(0, false);
        c.defer_failure(Cause::AccountForbidden);
        assert!(c.failures().is_empty());
        c.settle_failure(Some(Cause::CredentialsRejected));
        c.settle_failure(Some(Cause::DomainNotFound)); // nothing left
        assert_eq!(c.failures(), &[(Cause::CredentialsRejected, 1)]);
        // Not settled by an answer: the next REGISTER counts it as it was.
        c.defer_failure(Cause::AccountForbidden);
        c.count_sent(10, false);
        let mut want = vec![
            (Cause::CredentialsRejected, 1),
            (Cause::AccountForbidden, 1),
        ];
        want.sort();
        assert_eq!(c.failures(), want.as_slice());
    }

    #[test]
    fn failures_only_for_causes_seen_in_order() {
        let mut c = TrunkCounters::default();
        assert!(c.failures().is_empty());
        assert_eq!(c.last_registered_at(), None);
        c.count_failure(Cause::RegistrarUnreachable);
        c.count_failure(Cause::CredentialsRejected);
        c.count_failure(Cause::RegistrarUnreachable);
        let mut want = vec![
            (Cause::RegistrarUnreachable, 2),
            (Cause::CredentialsRejected, 1),
        ];
        want.sort();
        assert_eq!(c.failures(), want.as_slice());
    }
}
