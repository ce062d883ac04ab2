//! [`IdRange`]: the host uids/gids the boxes' user namespaces map onto
//! (`[daemon] id_range`), shared by the spec (which parses it), the sandbox
//! (which hands out one slot of [`IDS_PER_BOX`] per box) and `stockade
//! doctor` (which checks it against `/etc/subuid` and `/etc/subgid`).

/// Ids each box gets: 0..65536 inside map to `base..base + 65536` on the host.
pub const IDS_PER_BOX: u32 = 65_536;

/// The host uids/gids boxes are mapped into: `count` ids from `first`, one
/// slot of [`IDS_PER_BOX`] per walled box (root in the box is the first id
/// of its slot). It must not overlap what `/etc/subuid` hands to users.
///
/// The default ([`IdRange::DEFAULT`]) is `first = 2_147_483_648`
/// (`0x8000_0000`), `count = 2_147_418_112`: the upper half of the 32-bit id
/// space minus the last 65,536 ids (so `4294967295`, the kernel's "no id",
/// is never handed out) — 32,767 boxes at once. No distribution allocates
/// users there and `useradd`'s `/etc/subuid` ranges start at 100,000 with
/// 65,536 each, so the range is free unless an admin put it there, which
/// [`IdRange::overlaps_subuid`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first host id of the range.
    pub first: u32,
    /// How many ids; whole slots of [`IDS_PER_BOX`] are used, the rest ignored.
    pub count: u32,
}

impl IdRange {
    /// The documented default: `2147483648-4294901759`, 32,767 boxes.
    pub const DEFAULT: IdRange = IdRange { first: 0x8000_0000, count: 2_147_418_112 };

    /// How many boxes fit at once.
    pub fn slots(&self) -> u32 {
        self.count / IDS_PER_BOX
    }

    /// One past the last id (`u64`: it may be `2^32`).
    pub fn end(&self) -> u64 {
        u64::from(self.first) + u64::from(self.count)
    }

    /// The last id of the range (the first one for an empty range).
    pub fn last(&self) -> u32 {
        self.first.saturating_add(self.count.saturating_sub(1))
    }

    /// The first `name:start:count` line of `/etc/subuid` (or `/etc/subgid`)
    /// contents that hands out ids inside this range, e.g.
    /// `"alice:2147483648:65536"`. Comments, blank and malformed lines and
    /// empty grants never overlap.
    pub fn overlaps_subuid(&self, subuid: &str) -> Option<String> {
        subuid.lines().find_map(|line| {
            let mut fields = line.trim().split(':');
            let (_, start, len) = (fields.next()?, fields.next()?, fields.next()?);
            let start: u64 = start.trim().parse().ok()?;
            let len: u64 = len.trim().parse().ok()?;
            (len > 0 && start < self.end() && u64::from(self.first) < start + len)
                .then(|| line.trim().to_string())
        })
    }
}

impl Default for IdRange {
    fn default() -> Self {
        IdRange::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_range_is_the_upper_half_without_the_last_slot() {
        let r = IdRange::default();
        assert_eq!(r.slots(), 32_767);
        assert_eq!(r.end(), (1u64 << 32) - 65_536);
        assert_eq!(r.last(), 4_294_901_759);
    }

    #[test]
    fn subuid_overlap_names_the_line() {
        let r = IdRange::DEFAULT;
        let subuid = "alice:100000:65536\nbob:2147500000:65536\n";
        assert_eq!(r.overlaps_subuid(subuid).as_deref(), Some("bob:2147500000:65536"));
        assert_eq!(r.overlaps_subuid("alice:100000:65536\n# comment\n\n"), None);
        // Touching the range's first id from below overlaps; ending just before does not.
        assert!(r.overlaps_subuid("x:2147483647:2").is_some());
        assert!(r.overlaps_subuid("x:2147418112:65536").is_none());
        assert!(r.overlaps_subuid("x:2147483648:0").is_none(), "an empty grant");
        let small = IdRange { first: 100_000, count: 65536 };
        assert_eq!(small.overlaps_subuid("carol:99999:2\n").as_deref(), Some("carol:99999:2"));
        assert_eq!(small.overlaps_subuid("alice:165536:65536\n"), None, "adjacent");
    }
}
