//! What a trunk's binding, keep-alive or query timer is for, and when a
//! new trunk's first probe goes out.
use super::TrunkId;
use crate::core::keepalive::{below, mix};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum TimerKind {
    /// The refresh point plus grace.
    RefreshCheck,
    /// The binding's expiry.
    Expiry,
    /// Keep-alive: the next probe is due. (Probe deadlines are kept in
    /// their own queue, `Engine::deadlines`.)
    Probe,
    /// The credential query is due (`credq.rs`).
    Query,
}

/// A timer as the queue keeps it: when, the trunk's slot, what for.
pub(super) type TimerKey = (u64, u32, TimerKind);

/// The engine's timers, earliest first (ties by slot, then kind).
///
/// A min-heap with lazy removal: moving a timer pushes its new time and
/// leaves the old entry, which is dropped when it reaches the top or at a
/// compaction. Whether an entry still stands is the trunk's to say (its
/// binding timer, keep-alive or query due time), so the queue keeps no
/// second copy of it. The engine keeps the top standing after every change
/// ([`Timers::settle`]), so [`Timers::first`] is always a real timer.
/// Arming costs one push (O(log n), no removal), where a sorted set paid a
/// removal and an insertion.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<u128>>,
    /// Timers armed and not yet fired or moved (an upper bound: a trunk
    /// removed with a timer armed is counted until the next compaction).
    armed: usize,
}

impl Timers {
    /// A trunk's timer was armed (its owner now holds `at`).
    pub(super) fn arm(&mut self, at: u64, slot: u32, kind: TimerKind) {
        self.armed += 1;
        self.heap.push(Reverse(pack((at, slot, kind))));
    }

    /// A trunk's timer was cleared or moved away from where it was armed
    /// (its entry stays until [`Timers::settle`] drops it).
    pub(super) fn disarm(&mut self) {
        self.armed = self.armed.saturating_sub(1);
    }

    /// The earliest timer.
    pub(super) fn first(&self) -> Option<TimerKey> {
        self.heap.peek().map(|r| unpack(r.0))
    }

    /// Takes the earliest timer. Its owner clears it as it fires, so a
    /// copy left by a timer moved away and back no longer stands and goes
    /// at the next [`Timers::settle`].
    pub(super) fn pop(&mut self) -> Option<TimerKey> {
        let Reverse(k) = self.heap.pop()?;
        self.armed = self.armed.saturating_sub(1);
        Some(unpack(k))
    }

    /// Drops entries that no longer stand from the top, and compacts the
    /// heap when most of it is such entries (so it holds at most about
    /// twice the armed timers).
    pub(super) fn settle(&mut self, stands: impl Fn(&TimerKey) -> bool) {
        while let Some(&Reverse(k)) = self.heap.peek() {
            if stands(&unpack(k)) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 2 * self.armed + 64 {
            self.heap.retain(|&Reverse(k)| stands(&unpack(k)));
            self.armed = self.heap.len();
        }
    }

    /// Entries held (standing or not).
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// A key as the heap keeps it: one `u128` in the key's order (time,
/// slot, kind), so that a comparison is two machine words and no branch.
fn pack((at, slot, kind): TimerKey) -> u128 {
    u128::from(at) << 64 | u128::from(slot) << 8 | kind as u128
}

fn unpack(k: u128) -> TimerKey {
    const KINDS: [TimerKind; 4] = [
        TimerKind::RefreshCheck,
        TimerKind::Expiry,
        TimerKind::Probe,
        TimerKind::Query,
    ];
    ((k >> 64) as u64, (k >> 8) as u32, KINDS[(k & 3) as usize])
}

/// The first round of probes goes out at this rate at most (one trunk
/// every 10 ms by slot), and no slower than the interval needs: a few
/// trunks are probed at once, 6,000 within the first minute, more wrap
/// around the interval as their later rounds will.
const FIRST_ROUND_GAP_MS: u64 = 10;

/// When a trunk's first probe (or query) goes out after it is added:
/// its slot's place in the first round, plus seeded jitter within one gap.
pub(super) fn first_offset(seed: u64, id: TrunkId, interval: u64) -> u64 {
    let place = (u64::from(id.slot) * FIRST_ROUND_GAP_MS) % interval.max(1);
    let jitter = below(
        mix(seed ^ mix(u64::from(id.slot)) ^ u64::from(id.gen)),
        FIRST_ROUND_GAP_MS,
    );
    (place + jitter).min(interval.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_trunks_at_once_a_fleet_one_per_10_ms() {
        let id = |slot| TrunkId { slot, gen: 1 };
        for slot in 0..3 {
            assert!(first_offset(7, id(slot), 60_000) < 30);
        }
        // 100,000 trunks over a 600 s query interval: every 10 ms holds
        // the trunks of one or two slots, never a burst.
        let mut per_10ms = vec![0u32; 60_000];
        for slot in 0..100_000 {
            let at = first_offset(7, id(slot), 600_000);
            assert!(at < 600_000);
            per_10ms[(at / 10) as usize] += 1;
        }
        assert!(per_10ms.iter().all(|&n| n <= 3), "a burst");
        assert_eq!(per_10ms.iter().map(|&n| u64::from(n)).sum::<u64>(), 100_000);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// The lazy heap fires what a sorted set of the standing timers
        /// would, in the same order, and stays within its bound, whatever
        /// the moves: each step moves one timer of one of 8 trunks (two
        /// kinds each) to a new time, clears it, or fires the earliest.
        #[test]
        fn the_queue_fires_what_a_sorted_set_would(
            ops in proptest::collection::vec((0u32..8, 0u8..2, 0u8..4, 0u64..50), 1..300),
        ) {
            use std::collections::{BTreeSet, HashMap};
            let kinds = [TimerKind::RefreshCheck, TimerKind::Probe];
            // Who holds what: the trunks' side of the liveness check.
            let mut holds: HashMap<(u32, TimerKind), u64> = HashMap::new();
            let mut q = Timers::default();
            let mut model: BTreeSet<TimerKey> = BTreeSet::new();
            for (slot, kind, op, at) in ops {
                let kind = kinds[kind as usize];
                match op {
                    0 | 1 => {
                        let old = holds.insert((slot, kind), at);
                        if old == Some(at) {
                            continue;
                        }
                        if let Some(o) = old {
                            q.disarm();
                            model.remove(&(o, slot, kind));
                        }
                        q.arm(at, slot, kind);
                        model.insert((at, slot, kind));
                    }
                    2 => {
                        if let Some(o) = holds.remove(&(slot, kind)) {
                            q.disarm();
                            model.remove(&(o, slot, kind));
                        }
                    }
                    _ => {
                        let got = q.pop();
                        proptest::prop_assert_eq!(got, model.pop_first());
                        if let Some((_, s, k)) = got {
                            holds.remove(&(s, k));
                        }
                    }
                }
                q.settle(|&(at, s, k)| holds.get(&(s, k)) == Some(&at));
                proptest::prop_assert_eq!(q.first(), model.first().copied());
                proptest::prop_assert!(q.len() <= 2 * model.len() + 65);
            }
        }
    }
}
