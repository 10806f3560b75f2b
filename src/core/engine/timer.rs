//! What a trunk's binding, keep-alive or query timer is for, and when a
//! new trunk's first probe goes out.
use super::TrunkId;
use crate::core::keepalive::{below, mix};

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
}
