//! Probes the host runs later: a PBX that hands a probe to its own queue
//! (a libregwatch job on a prober thread) may start it well after the
//! engine emitted it. The engine then waits for the result, not for the
//! deadline it set at emission: the job measures its timeout from the
//! moment it sends, and always reports (an answer, a timeout or a
//! transport error). A job lost by the host still ends as a timeout, at
//! the later deadline.
use super::{Engine, Error, TrunkId};

/// How long a probe may wait in the host's queue before the engine stops
/// waiting for it (on top of its own timeout): a serial prober with a few
/// unreachable targets ahead of it stays well within this.
pub const JOB_QUEUE_GRACE_MS: u64 = 30_000;

impl Engine {
    /// Probe `probe` of `trunk` is run later by the host (queued as a
    /// job): its result is awaited until `until_ms` instead of the
    /// deadline it was emitted with (never earlier). Returns `Ok(false)`
    /// for a probe no longer awaited.
    pub fn defer_probe_deadline(
        &mut self,
        trunk: TrunkId,
        probe: u64,
        until_ms: u64,
    ) -> Result<bool, Error> {
        let t = self.slots.get_mut(trunk).ok_or(Error::UnknownTrunk)?;
        let out = match t.ka.outstanding_mut(probe) {
            Some(o) => Some(o),
            None => t.cq.out_mut(probe),
        };
        let Some(o) = out else {
            return Ok(false);
        };
        if until_ms > o.deadline {
            o.deadline = until_ms;
            let o = *o;
            self.push_deadline(trunk, o);
        }
        Ok(true)
    }
}
