//! `Coverage`: the core's `MemCoverage` (which ranges of a download arrived).

use std::sync::Mutex;

use kithara_storage::{
    binding::{flat_ranges, to_f64, to_u64},
    Coverage, MemCoverage,
};
use napi_derive::napi;

/// Byte ranges of a download that have arrived, with an optional total size.
#[napi(js_name = "Coverage")]
pub struct NodeCoverage {
    // napi methods take `&self`; the lock gives the core's `&mut` methods
    // without unsafe (it is never contended: a JS object lives on one thread).
    inner: Mutex<MemCoverage>,
}

impl NodeCoverage {
    fn with<T>(&self, f: impl FnOnce(&mut MemCoverage) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[napi]
impl NodeCoverage {
    /// Records `start..end` as arrived (an empty or inverted range is ignored).
    #[napi]
    pub fn mark(&self, start: f64, end: f64) {
        self.with(|c| c.mark(to_u64(start)..to_u64(end)));
    }

    /// Sets the total size, so gaps and completion are known.
    #[napi]
    pub fn set_total_size(&self, total: f64) {
        self.with(|c| c.set_total_size(to_u64(total)));
    }

    /// The total size, or null when unknown.
    #[napi]
    pub fn total_size(&self) -> Option<f64> {
        self.with(|c| c.total_size().map(to_f64))
    }

    /// The first missing range at or after `from` as `[start, end]`, or null.
    #[napi]
    pub fn next_gap(&self, from: f64) -> Option<Vec<f64>> {
        self.with(|c| c.next_gap(to_u64(from)))
            .map(|g| flat_ranges([g]))
    }

    /// Whether the total size is known and every byte below it arrived.
    #[napi]
    pub fn is_complete(&self) -> bool {
        self.with(|c| c.is_complete())
    }

    /// The arrived ranges, merged and in order, as `[start0, end0, start1, …]`.
    #[napi]
    pub fn ranges(&self) -> Vec<f64> {
        flat_ranges(self.with(|c| c.ranges()))
    }
}

/// A new, empty coverage.
#[napi]
pub fn new_coverage() -> NodeCoverage {
    NodeCoverage {
        inner: Mutex::new(MemCoverage::new()),
    }
}
