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
/// compaction. Each trunk has at most one timer per group (its binding
/// timer, its keep-alive probe, its credential query); the queue keeps, per
/// slot and group, the generation of the timer armed, and each entry
/// carries the generation it was armed with, so whether an entry still
/// stands is read from a dense table here (12 bytes per slot), not from
/// the trunk's record (a cache miss on a cold trunk). The top is kept
/// standing after every change, so [`Timers::first`] is always a real
/// timer. Arming costs one push (O(log n), no removal), where a sorted set
/// paid a removal and an insertion.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<u128>>,
    /// Per slot, per group ([`group`]): the generation of the last timer
    /// armed (its low 24 bits) and, in [`ARMED`], whether it still is.
    gens: Vec<[u32; 3]>,
    /// Timers armed and not yet fired or cleared.
    armed: usize,
}

/// The bit of a [`Timers::gens`] entry that says its timer is armed.
const ARMED: u32 = 1 << 31;
/// The generation's bits, in the table and in a key.
const GEN_MASK: u32 = (1 << 24) - 1;

/// The group a kind belongs to: a trunk has one timer per group.
fn group(kind: TimerKind) -> usize {
    match kind {
        TimerKind::RefreshCheck | TimerKind::Expiry => 0,
        TimerKind::Probe => 1,
        TimerKind::Query => 2,
    }
}

impl Timers {
    /// Arms a trunk's timer of `kind`'s group at `at`, replacing the one
    /// of that group armed before, if any.
    pub(super) fn arm(&mut self, at: u64, slot: u32, kind: TimerKind) {
        let i = slot as usize;
        if self.gens.len() <= i {
            self.gens.resize(i + 1, [0; 3]);
        }
        let g = &mut self.gens[i][group(kind)];
        if *g & ARMED == 0 {
            self.armed += 1;
        }
        *g = (*g).wrapping_add(1) & GEN_MASK | ARMED;
        self.heap
            .push(Reverse(pack((at, slot, kind), *g & GEN_MASK)));
        self.settle();
    }

    /// Clears a trunk's timer of `kind`'s group (its entry stays in the
    /// heap until it reaches the top or a compaction drops it).
    pub(super) fn disarm(&mut self, slot: u32, kind: TimerKind) {
        if let Some(g) = self
            .gens
            .get_mut(slot as usize)
            .map(|g| &mut g[group(kind)])
        {
            if *g & ARMED != 0 {
                *g &= !ARMED;
                self.armed = self.armed.saturating_sub(1);
            }
        }
        self.settle();
    }

    /// The earliest timer.
    pub(super) fn first(&self) -> Option<TimerKey> {
        self.heap.peek().map(|r| unpack(r.0))
    }

    /// Takes the earliest timer: it has fired, so it is no longer armed.
    pub(super) fn pop(&mut self) -> Option<TimerKey> {
        let Reverse(k) = self.heap.pop()?;
        let key = unpack(k);
        if let Some(g) = self
            .gens
            .get_mut(key.1 as usize)
            .map(|g| &mut g[group(key.2)])
        {
            *g &= !ARMED;
        }
        self.armed = self.armed.saturating_sub(1);
        self.settle();
        Some(key)
    }

    /// Whether a heap entry is the timer armed for its slot and group.
    fn stands(&self, k: u128) -> bool {
        let (_, slot, kind) = unpack(k);
        self.gens
            .get(slot as usize)
            .is_some_and(|g| g[group(kind)] == (k as u32 & GEN_MASK) | ARMED)
    }

    /// Drops entries that no longer stand from the top, and compacts the
    /// heap when most of it is such entries (so it holds at most about
    /// twice the armed timers).
    fn settle(&mut self) {
        while let Some(&Reverse(k)) = self.heap.peek() {
            if self.stands(k) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 2 * self.armed + 64 {
            let mut heap = std::mem::take(&mut self.heap).into_vec();
            heap.retain(|&Reverse(k)| self.stands(k));
            self.heap = BinaryHeap::from(heap);
            self.armed = self.heap.len();
        }
    }

    /// Entries held (standing or not).
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// A key as the heap keeps it: one `u128` in the key's order (time,
/// slot, kind), then the generation it was armed with, so that a
/// comparison is two machine words and no branch.
fn pack((at, slot, kind): TimerKey, gen: u32) -> u128 {
    u128::from(at) << 64
        | u128::from(slot) << 32
        | (kind as u128) << 24
        | u128::from(gen & GEN_MASK)
}

fn unpack(k: u128) -> TimerKey {
    const KINDS: [TimerKind; 4] = [
        TimerKind::RefreshCheck,
        TimerKind::Expiry,
        TimerKind::Probe,
        TimerKind::Query,
    ];
    (
        (k >> 64) as u64,
        (k >> 32) as u32,
        KINDS[(k >> 24) as usize & 3],
    )
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
            ops in proptest::collection::vec((0u32..8, 0u8..3, 0u8..4, 0u64..50), 1..300),
        ) {
            use std::collections::{BTreeSet, HashMap};
            // RefreshCheck and Expiry share a group: arming one replaces
            // the other.
            let kinds = [TimerKind::RefreshCheck, TimerKind::Expiry, TimerKind::Probe];
            // What each trunk holds, per group.
            let mut holds: HashMap<(u32, usize), (u64, TimerKind)> = HashMap::new();
            let mut q = Timers::default();
            let mut model: BTreeSet<TimerKey> = BTreeSet::new();
            for (slot, kind, op, at) in ops {
                let kind = kinds[kind as usize];
                match op {
                    0 | 1 => {
                        if let Some((o, k)) = holds.insert((slot, group(kind)), (at, kind)) {
                            model.remove(&(o, slot, k));
                        }
                        q.arm(at, slot, kind);
                        model.insert((at, slot, kind));
                    }
                    2 => {
                        if let Some((o, k)) = holds.remove(&(slot, group(kind))) {
                            model.remove(&(o, slot, k));
                        }
                        q.disarm(slot, kind);
                    }
                    _ => {
                        let got = q.pop();
                        proptest::prop_assert_eq!(got, model.pop_first());
                        if let Some((_, s, k)) = got {
                            holds.remove(&(s, group(k)));
                        }
                    }
                }
                proptest::prop_assert_eq!(q.first(), model.first().copied());
                proptest::prop_assert!(q.len() <= 2 * model.len() + 65);
            }
        }
    }
}
