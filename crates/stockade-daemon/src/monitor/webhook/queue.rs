//! [`DropOldest`]: a bounded FIFO that, when full, makes room by dropping its
//! oldest entry and counting it. For alerts the newest news matters most, and
//! a dead receiver must cost bounded memory.

use std::collections::VecDeque;

/// A bounded queue that drops its oldest entry when full.
#[derive(Debug)]
pub(crate) struct DropOldest<T> {
    items: VecDeque<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> DropOldest<T> {
    /// A queue of at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> DropOldest<T> {
        let capacity = capacity.max(1);
        DropOldest { items: VecDeque::with_capacity(capacity.min(1024)), capacity, dropped: 0 }
    }

    /// Append `item`, dropping the oldest entry if the queue is full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back(item);
    }

    /// The oldest entry.
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Entries dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::DropOldest;

    #[test]
    fn a_full_queue_drops_its_oldest_and_counts_it() {
        let mut q = DropOldest::new(2);
        for i in 1..=5 {
            q.push(i);
        }
        assert_eq!(q.dropped(), 3);
        assert_eq!((q.pop(), q.pop(), q.pop()), (Some(4), Some(5), None));
        let mut zero = DropOldest::new(0);
        zero.push('a');
        assert_eq!(zero.pop(), Some('a'), "capacity is at least one");
    }
}
