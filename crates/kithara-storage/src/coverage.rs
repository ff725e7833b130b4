#![forbid(unsafe_code)]
//! Which byte ranges of a download have arrived, independent of any storage.

use std::ops::Range;

use rangemap::RangeSet;

/// Tracks downloaded byte ranges and the total size, to plan what to fetch next.
pub trait Coverage {
    /// Records `range` as downloaded. Empty ranges are ignored.
    fn mark(&mut self, range: Range<u64>);

    /// Sets the total size once known (e.g. from `Content-Range`).
    fn set_total_size(&mut self, total: u64);

    /// The total size, if known.
    fn total_size(&self) -> Option<u64>;

    /// The first missing range at or after `from`: up to the total size when
    /// it is known, otherwise only gaps before the last marked byte.
    fn next_gap(&self, from: u64) -> Option<Range<u64>>;

    /// `true` when the total size is known and every byte below it is marked.
    fn is_complete(&self) -> bool;

    /// The marked ranges, merged and in order.
    fn ranges(&self) -> Vec<Range<u64>>;
}

/// An in-memory [`Coverage`] on a range set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemCoverage {
    marked: RangeSet<u64>,
    total: Option<u64>,
}

impl MemCoverage {
    /// Nothing marked, size unknown.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Coverage for MemCoverage {
    fn mark(&mut self, range: Range<u64>) {
        if range.start < range.end {
            self.marked.insert(range);
        }
    }

    fn set_total_size(&mut self, total: u64) {
        self.total = Some(total);
    }

    fn total_size(&self) -> Option<u64> {
        self.total
    }

    fn next_gap(&self, from: u64) -> Option<Range<u64>> {
        let upper = match self.total {
            Some(total) => total,
            None => self.marked.iter().next_back().map_or(0, |r| r.end),
        };
        if from >= upper {
            return None;
        }
        self.marked.gaps(&(from..upper)).next()
    }

    fn is_complete(&self) -> bool {
        match self.total {
            Some(0) => true,
            Some(total) => self.marked.gaps(&(0..total)).next().is_none(),
            None => false,
        }
    }

    fn ranges(&self) -> Vec<Range<u64>> {
        self.marked.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_completion() {
        let mut c = MemCoverage::new();
        assert_eq!(c.next_gap(0), None);
        c.mark(10..20);
        c.mark(30..40);
        c.mark(5..5);
        assert_eq!(c.next_gap(0), Some(0..10));
        assert_eq!(c.next_gap(15), Some(20..30));
        assert_eq!(c.next_gap(35), None);
        assert!(!c.is_complete());
        c.set_total_size(50);
        assert_eq!(c.next_gap(35), Some(40..50));
        c.mark(0..10);
        c.mark(20..30);
        c.mark(40..50);
        assert!(c.is_complete());
        assert_eq!(c.ranges(), vec![0..50]);
        assert_eq!(c.total_size(), Some(50));
    }
}
