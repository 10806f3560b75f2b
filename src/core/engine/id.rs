//! `TrunkId`: a trunk's handle, a slot and its generation.

/// A trunk's handle within one engine. Stale handles (of a removed trunk)
/// are refused with
/// [`Error::UnknownTrunk`](super::Error::UnknownTrunk), never confused with a new trunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrunkId {
    pub(super) slot: u32,
    pub(super) gen: u32,
}

impl TrunkId {
    /// The id as one number (stable for the trunk's life in this engine).
    pub fn as_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.slot)
    }
    /// The inverse of [`as_u64`](Self::as_u64).
    pub fn from_u64(v: u64) -> TrunkId {
        TrunkId {
            slot: v as u32,
            gen: (v >> 32) as u32,
        }
    }
}
