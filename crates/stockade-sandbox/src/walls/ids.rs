//! The per-spawn slot allocator over the host id range boxes are mapped
//! into ([`IdRange`], shared with the spec and `doctor` through
//! `stockade-proto`): 65,536 ids per box, freed at finish.

use std::sync::{Arc, Mutex};

pub use stockade_proto::{IDS_PER_BOX, IdRange};

/// Hands out slots of [`IDS_PER_BOX`] ids. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct IdAllocator {
    range: IdRange,
    state: Arc<Mutex<Slots>>,
}

#[derive(Debug)]
struct Slots {
    used: Vec<u64>,
    next: u32,
}

/// One box's ids; returned to the allocator when dropped.
#[derive(Debug)]
pub(crate) struct IdSlot {
    index: u32,
    base: u32,
    state: Arc<Mutex<Slots>>,
}

impl IdSlot {
    /// The host id that is 0 inside the box.
    pub(crate) fn base(&self) -> u32 {
        self.base
    }
}

impl Drop for IdSlot {
    fn drop(&mut self) {
        let mut slots = self.state.lock().unwrap_or_else(|p| p.into_inner());
        slots.used[(self.index / 64) as usize] &= !(1u64 << (self.index % 64));
    }
}

impl IdAllocator {
    pub(crate) fn new(range: IdRange) -> IdAllocator {
        let words = range.slots().div_ceil(64) as usize;
        IdAllocator { range, state: Arc::new(Mutex::new(Slots { used: vec![0; words], next: 0 })) }
    }

    /// A free slot, or `None` when every slot is in use.
    pub(crate) fn allocate(&self) -> Option<IdSlot> {
        let total = self.range.slots();
        let mut slots = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Round-robin from the last hand-out, so a freed slot is reused last
        // (its old files in a kept workspace stay distinguishable longest).
        for step in 0..total {
            let index = (slots.next + step) % total;
            let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
            if slots.used[word] & bit == 0 {
                slots.used[word] |= bit;
                slots.next = (index + 1) % total;
                return Some(IdSlot {
                    index,
                    base: self.range.first + index * IDS_PER_BOX,
                    state: self.state.clone(),
                });
            }
        }
        None
    }

    /// Mark the slot whose base is `base` used (an adopted box's, read from
    /// its init's `/proc/<pid>/uid_map`). `None` if `base` is not a slot
    /// boundary of this range or the slot is already held.
    pub(crate) fn claim(&self, base: u32) -> Option<IdSlot> {
        let offset = base.checked_sub(self.range.first)?;
        if offset % IDS_PER_BOX != 0 || offset / IDS_PER_BOX >= self.range.slots() {
            return None;
        }
        let index = offset / IDS_PER_BOX;
        let mut slots = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        if slots.used[word] & bit != 0 {
            return None;
        }
        slots.used[word] |= bit;
        Some(IdSlot { index, base, state: self.state.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_distinct_reused_after_drop_and_run_out() {
        let alloc = IdAllocator::new(IdRange { first: 1_000_000, count: 3 * IDS_PER_BOX + 5 });
        let a = alloc.allocate().unwrap();
        let b = alloc.allocate().unwrap();
        let c = alloc.allocate().unwrap();
        assert_eq!(
            [a.base(), b.base(), c.base()],
            [1_000_000, 1_000_000 + 65_536, 1_000_000 + 131_072]
        );
        assert!(alloc.allocate().is_none(), "only three whole slots fit");
        let freed = b.base();
        drop(b);
        assert_eq!(alloc.allocate().unwrap().base(), freed);
    }

    #[test]
    fn a_claimed_slot_is_not_handed_out_again() {
        let range = IdRange { first: 1 << 20, count: 3 * IDS_PER_BOX };
        let ids = IdAllocator::new(range);
        let held = ids.claim((1 << 20) + IDS_PER_BOX).expect("slot 1 is free");
        assert!(ids.claim((1 << 20) + IDS_PER_BOX).is_none(), "claimed twice");
        assert!(ids.claim((1 << 20) + 5).is_none(), "not a slot boundary");
        let (a, b) = (ids.allocate().unwrap(), ids.allocate().unwrap());
        assert!(a.base() != held.base() && b.base() != held.base());
        assert!(ids.allocate().is_none());
        drop(held);
        assert_eq!(ids.allocate().unwrap().base(), (1 << 20) + IDS_PER_BOX);
    }
}
