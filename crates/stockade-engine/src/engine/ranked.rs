//! [`Ranked`]: an ordered set that also answers "how many are ahead of this
//! key" in O(log n), for queue positions (a `BTreeSet` needs a walk over the
//! tail: O(n) per view, O(n²) per listing).
//!
//! Keys live in sorted blocks of at most `2 × BLOCK`; a Fenwick tree over
//! the block lengths gives the count before any block in O(log n). A block
//! is found by binary search on the blocks' last keys. Splitting or dropping
//! a block rebuilds the Fenwick tree (O(blocks), once per `BLOCK` changes).

/// Target block length.
const BLOCK: usize = 256;

/// An ordered set with ranks.
#[derive(Debug, Clone)]
pub(super) struct Ranked<K> {
    blocks: Vec<Vec<K>>,
    /// Fenwick tree over `blocks[i].len()`, 1-based.
    tree: Vec<usize>,
    len: usize,
}

impl<K: Ord + Copy> Default for Ranked<K> {
    fn default() -> Self {
        Ranked { blocks: Vec::new(), tree: vec![0], len: 0 }
    }
}

impl<K: Ord + Copy> Ranked<K> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block that holds (or would hold) `key`.
    fn block_of(&self, key: &K) -> usize {
        let i = self.blocks.partition_point(|b| b.last().is_some_and(|last| last < key));
        i.min(self.blocks.len().saturating_sub(1))
    }

    /// Insert `key`; false if it was already there.
    pub fn insert(&mut self, key: K) -> bool {
        if self.blocks.is_empty() {
            self.blocks.push(vec![key]);
            self.len = 1;
            self.rebuild();
            return true;
        }
        let b = self.block_of(&key);
        let block = &mut self.blocks[b];
        let Err(at) = block.binary_search(&key) else { return false };
        block.insert(at, key);
        self.len += 1;
        if block.len() > 2 * BLOCK {
            let tail = block.split_off(BLOCK);
            self.blocks.insert(b + 1, tail);
            self.rebuild();
        } else {
            self.add(b, 1);
        }
        true
    }

    /// Remove `key`; false if it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        let b = self.block_of(key);
        let block = &mut self.blocks[b];
        let Ok(at) = block.binary_search(key) else { return false };
        block.remove(at);
        self.len -= 1;
        if block.is_empty() {
            self.blocks.remove(b);
            self.rebuild();
        } else {
            self.sub(b, 1);
        }
        true
    }

    /// How many keys are before `key` (its position, 0 = first), whether or
    /// not `key` itself is in the set.
    pub fn rank(&self, key: &K) -> usize {
        if self.blocks.is_empty() {
            return 0;
        }
        let b = self.block_of(key);
        self.prefix(b) + self.blocks[b].partition_point(|k| k < key)
    }

    /// The keys in order.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.blocks.iter().flatten()
    }

    fn prefix(&self, block: usize) -> usize {
        let (mut i, mut sum) = (block, 0);
        while i > 0 {
            sum += self.tree[i];
            i &= i - 1;
        }
        sum
    }

    fn add(&mut self, block: usize, n: usize) {
        let mut i = block + 1;
        while i < self.tree.len() {
            self.tree[i] += n;
            i += i & i.wrapping_neg();
        }
    }

    fn sub(&mut self, block: usize, n: usize) {
        let mut i = block + 1;
        while i < self.tree.len() {
            self.tree[i] -= n;
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild(&mut self) {
        let n = self.blocks.len();
        self.tree = vec![0; n + 1];
        for (b, block) in self.blocks.iter().enumerate() {
            self.tree[b + 1] += block.len();
            let parent = (b + 1) + ((b + 1) & (b + 1).wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[b + 1];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ranks_match_a_btreeset_through_inserts_and_removes() {
        let mut ranked = Ranked::default();
        let mut model = BTreeSet::new();
        // A deterministic shuffle of 5,000 keys, then every third removed.
        let keys: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 5003).collect();
        for &k in &keys {
            assert_eq!(ranked.insert(k), model.insert(k));
        }
        assert!(!ranked.insert(keys[0]), "no duplicates");
        for &k in keys.iter().step_by(3) {
            assert_eq!(ranked.remove(&k), model.remove(&k));
        }
        assert!(!ranked.remove(&keys[0]));
        assert_eq!(ranked.len(), model.len());
        assert!(ranked.iter().copied().eq(model.iter().copied()));
        for probe in (0..5010u64).step_by(7) {
            assert_eq!(ranked.rank(&probe), model.range(..probe).count(), "rank of {probe}");
        }
        for k in model.clone() {
            ranked.remove(&k);
        }
        assert!(ranked.is_empty());
        assert_eq!(ranked.rank(&3), 0);
    }
}
