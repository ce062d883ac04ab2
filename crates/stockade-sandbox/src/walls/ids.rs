//! The host id range boxes are mapped into: [`IdRange`], the per-spawn slot
//! allocator (65,536 ids per box, freed at finish), and the `/etc/subuid`
//! overlap check `stockade doctor` runs.

use std::sync::{Arc, Mutex};

/// Ids each box gets: 0..65536 inside map to `base..base + 65536` on the host.
pub const IDS_PER_BOX: u32 = 65_536;

/// The host uids/gids boxes are mapped into.
///
/// The default is `first = 2_147_483_648` (`0x8000_0000`), `count =
/// 2_147_418_112`: the upper half of the 32-bit id space, minus the last
/// 65,536 ids (so `4294967295`, the kernel's "no id", is never handed out).
/// That is 32,767 boxes at once. No distribution allocates users there and
/// `useradd`'s `/etc/subuid` ranges start at 100,000 with 65,536 each, so the
/// range is free unless an admin put it there — which
/// [`IdRange::overlaps_subuid`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first host id of the range.
    pub first: u32,
    /// How many ids; whole slots of 65,536 are used, the rest ignored.
    pub count: u32,
}

impl Default for IdRange {
    fn default() -> Self {
        IdRange { first: 0x8000_0000, count: 2_147_418_112 }
    }
}

impl IdRange {
    /// How many boxes fit.
    pub fn slots(&self) -> u32 {
        self.count / IDS_PER_BOX
    }

    /// The first line of `/etc/subuid` (or `/etc/subgid`) contents that
    /// hands out ids inside this range, e.g. `"alice:2147483648:65536"`.
    pub fn overlaps_subuid(&self, subuid: &str) -> Option<String> {
        let end = u64::from(self.first) + u64::from(self.count);
        subuid.lines().find_map(|line| {
            let mut fields = line.trim().split(':');
            let (_, start, len) = (fields.next()?, fields.next()?, fields.next()?);
            let start: u64 = start.trim().parse().ok()?;
            let len: u64 = len.trim().parse().ok()?;
            (start < end && u64::from(self.first) < start + len).then(|| line.trim().to_string())
        })
    }
}

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
    fn the_default_range_is_the_upper_half_without_the_last_slot() {
        let r = IdRange::default();
        assert_eq!(r.slots(), 32_767);
        assert_eq!(u64::from(r.first) + u64::from(r.count), (1u64 << 32) - 65_536);
    }

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

    #[test]
    fn subuid_overlap_names_the_line() {
        let r = IdRange::default();
        let subuid = "alice:100000:65536\nbob:2147500000:65536\n";
        assert_eq!(r.overlaps_subuid(subuid).as_deref(), Some("bob:2147500000:65536"));
        assert_eq!(r.overlaps_subuid("alice:100000:65536\n# comment\n\n"), None);
        // Touching the range's first id from below overlaps; ending just before does not.
        assert!(r.overlaps_subuid("x:2147483647:2").is_some());
        assert!(r.overlaps_subuid("x:2147418112:65536").is_none());
    }
}
