//! The slot map: every trunk of an engine by id and by name. An id is a
//! slot and the slot's generation, so the handle of a removed trunk is
//! refused, never confused with the trunk that reuses its slot.
use super::id::TrunkId;
use super::trunk::Trunk;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The names are the host's own (its configuration), never a peer's, so
/// the map hashes them with foldhash rather than SipHash: the lookup is
/// most of what an observation by name costs.
type NameHasher = foldhash::fast::RandomState;

/// A trunk's name as the map's key, found by its bytes: the C boundary
/// looks a name up as the host passed it, and checks that it is UTF-8
/// only when no trunk has it (a name found equals a trunk's, so it is).
/// A short name (most are) is kept in the map's own entry, so that a
/// lookup compares it without a further cache miss.
enum Name {
    Short(u8, [u8; SHORT]),
    Long(Arc<str>),
}

/// The longest name kept in the entry (the entry stays 24 bytes).
const SHORT: usize = 22;

impl Name {
    fn new(name: Arc<str>) -> Name {
        let b = name.as_bytes();
        match u8::try_from(b.len()) {
            Ok(n) if b.len() <= SHORT => {
                let mut bytes = [0; SHORT];
                bytes[..b.len()].copy_from_slice(b);
                Name::Short(n, bytes)
            }
            _ => Name::Long(name),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Name::Short(n, bytes) => &bytes[..usize::from(*n)],
            Name::Long(s) => s.as_bytes(),
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, o: &Name) -> bool {
        self.bytes() == o.bytes()
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // As `[u8]` hashes, so that a lookup by bytes finds it.
        self.bytes().hash(h);
    }
}

impl Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

/// Slots per chunk. A trunk is large (over a kilobyte), so the slots live
/// in chunks of this many rather than in one vector: a vector doubles, and
/// its spare capacity (up to half of it) would count a kilobyte per
/// trunk not there; a chunk wastes at most `CHUNK - 1` slots, and growing
/// never moves a trunk.
const CHUNK: usize = 64;

/// `repr(C)`: the generation checked first, beside the trunk's first
/// (hottest) fields.
#[repr(C)]
struct Slot {
    gen: u32,
    trunk: Option<Trunk>,
}

/// Trunks by slot, with the free slots and the name → slot map.
#[derive(Default)]
pub(super) struct Slots {
    chunks: Vec<Box<[Slot]>>,
    /// Slots handed out so far (the rest of the last chunk is unused).
    used: usize,
    free: Vec<u32>,
    by_name: HashMap<Name, u32, NameHasher>,
}

impl Slots {
    /// How many trunks there are.
    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The trunk with this id (None for a stale or unknown id).
    pub(super) fn get(&self, id: TrunkId) -> Option<&Trunk> {
        self.slot(id.slot)
            .filter(|s| s.gen == id.gen)
            .and_then(|s| s.trunk.as_ref())
    }

    /// The trunk with this id, to change it.
    pub(super) fn get_mut(&mut self, id: TrunkId) -> Option<&mut Trunk> {
        self.slot_mut(id.slot)
            .filter(|s| s.gen == id.gen)
            .and_then(|s| s.trunk.as_mut())
    }

    /// The trunk in a slot (for the maps and queues keyed by slot).
    pub(super) fn at(&self, slot: u32) -> Option<&Trunk> {
        self.slot(slot).and_then(|s| s.trunk.as_ref())
    }

    /// The trunk in a slot, to change it.
    pub(super) fn at_mut(&mut self, slot: u32) -> Option<&mut Trunk> {
        self.slot_mut(slot).and_then(|s| s.trunk.as_mut())
    }

    fn slot(&self, slot: u32) -> Option<&Slot> {
        let i = slot as usize;
        self.chunks.get(i / CHUNK).and_then(|c| c.get(i % CHUNK))
    }

    fn slot_mut(&mut self, slot: u32) -> Option<&mut Slot> {
        let i = slot as usize;
        self.chunks
            .get_mut(i / CHUNK)
            .and_then(|c| c.get_mut(i % CHUNK))
    }

    /// Every slot handed out, in order.
    fn all(&self) -> impl Iterator<Item = &Slot> + '_ {
        self.chunks.iter().flat_map(|c| c.iter()).take(self.used)
    }

    /// Whether a trunk has this name.
    pub(super) fn has_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name.as_bytes())
    }

    /// The id of the trunk with this name (its bytes).
    pub(super) fn find(&self, name: &[u8]) -> Option<TrunkId> {
        let slot = *self.by_name.get(name)?;
        self.at(slot).map(|t| t.id)
    }

    /// Every trunk's id, in slot order.
    pub(super) fn ids(&self) -> impl Iterator<Item = TrunkId> + '_ {
        self.all().filter_map(|s| s.trunk.as_ref().map(|t| t.id))
    }

    /// Every trunk with its slot, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &Trunk)> + '_ {
        self.all()
            .enumerate()
            .filter_map(|(i, s)| s.trunk.as_ref().map(|t| (i as u32, t)))
    }

    /// The id the next trunk gets: a free slot (its generation already
    /// moved on), else a new one. Reserved until [`Slots::insert`].
    pub(super) fn vacant(&mut self) -> TrunkId {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                if self.used == self.chunks.len() * CHUNK {
                    self.chunks.push(
                        (0..CHUNK)
                            .map(|_| Slot {
                                gen: 0,
                                trunk: None,
                            })
                            .collect(),
                    );
                }
                self.used += 1;
                (self.used - 1) as u32
            }
        };
        TrunkId {
            slot,
            gen: self.slot(slot).map_or(0, |s| s.gen),
        }
    }

    /// Puts a trunk in the slot [`Slots::vacant`] gave it.
    pub(super) fn insert(&mut self, trunk: Trunk) {
        let slot = trunk.id.slot;
        let name = trunk.config.name.clone();
        debug_assert!(self.slot(slot).is_some(), "insert without vacant");
        if let Some(s) = self.slot_mut(slot) {
            s.trunk = Some(trunk);
            self.by_name.insert(Name::new(name), slot);
        }
    }

    /// Moves a trunk's name entry after a rename.
    pub(super) fn rename(&mut self, old: &str, new: Arc<str>, slot: u32) {
        self.by_name.remove(old.as_bytes());
        self.by_name.insert(Name::new(new), slot);
    }

    /// Takes a trunk out: its slot's generation moves on and the slot is
    /// free for the next trunk.
    pub(super) fn remove(&mut self, id: TrunkId) -> Option<Trunk> {
        self.get(id)?;
        let slot = self.slot_mut(id.slot)?;
        let t = slot.trunk.take()?;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(id.slot);
        self.by_name.remove(t.config.name.as_bytes());
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_by_its_bytes_short_or_long() {
        assert_eq!(std::mem::size_of::<Name>(), 24);
        let mut m: HashMap<Name, u32, NameHasher> = HashMap::default();
        let names = [
            "",
            "a",
            "trunk-000001",
            &"x".repeat(SHORT),
            &"y".repeat(SHORT + 1),
            "é-ü",
        ];
        for (i, n) in names.iter().enumerate() {
            let k = Name::new(Arc::from(*n));
            assert_eq!(matches!(k, Name::Short(..)), n.len() <= SHORT, "{n}");
            m.insert(k, i as u32);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.get(n.as_bytes()), Some(&(i as u32)), "{n}");
        }
        // A prefix, a longer name and the zero-padded form are other names.
        assert_eq!(m.get(&b"trunk-00000"[..]), None);
        assert_eq!(m.get(&b"trunk-0000010"[..]), None);
        assert_eq!(m.get(&b"a\0"[..]), None);
        assert_eq!(m.get("x".repeat(SHORT + 1).as_bytes()), None);
        assert!(m.remove("y".repeat(SHORT + 1).as_bytes()).is_some());
        assert_eq!(m.len(), names.len() - 1);
    }
}
