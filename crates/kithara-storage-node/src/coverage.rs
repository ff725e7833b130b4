//! `NativeCoverage`: the core's `MemCoverage` (which ranges of a download arrived).

use std::sync::Mutex;

use kithara_storage::{Coverage, MemCoverage};
use napi_derive::napi;

/// Byte ranges of a download that have arrived, with an optional total size.
#[napi]
pub struct NativeCoverage {
    // napi methods take `&self`; the lock gives the core's `&mut` methods
    // without unsafe (it is never contended: a JS object lives on one thread).
    inner: Mutex<MemCoverage>,
}

/// Numbers from JavaScript are validated by the facade; a negative one is
/// treated as 0 rather than wrapping.
fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_js(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl NativeCoverage {
    fn with<T>(&self, f: impl FnOnce(&mut MemCoverage) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[napi]
impl NativeCoverage {
    /// Records `start..end` as arrived (an empty or inverted range is ignored).
    #[napi]
    pub fn mark(&self, start: i64, end: i64) {
        self.with(|c| c.mark(to_u64(start)..to_u64(end)));
    }

    /// Sets the total size, so gaps and completion are known.
    #[napi]
    pub fn set_total_size(&self, total: i64) {
        self.with(|c| c.set_total_size(to_u64(total)));
    }

    /// The total size, or null when unknown.
    #[napi]
    pub fn total_size(&self) -> Option<i64> {
        self.with(|c| c.total_size().map(to_js))
    }

    /// The first missing range at or after `from` as `[start, end]`, or null.
    #[napi(ts_return_type = "[number, number] | null")]
    pub fn next_gap(&self, from: i64) -> Option<Vec<i64>> {
        self.with(|c| c.next_gap(to_u64(from)))
            .map(|g| vec![to_js(g.start), to_js(g.end)])
    }

    /// Whether the total size is known and every byte below it arrived.
    #[napi]
    pub fn is_complete(&self) -> bool {
        self.with(|c| c.is_complete())
    }

    /// The arrived ranges, merged and in order, as `[start, end]` pairs.
    #[napi(ts_return_type = "Array<[number, number]>")]
    pub fn ranges(&self) -> Vec<Vec<i64>> {
        self.with(|c| c.ranges())
            .into_iter()
            .map(|r| vec![to_js(r.start), to_js(r.end)])
            .collect()
    }
}

/// A new, empty coverage.
#[napi]
pub fn new_coverage() -> NativeCoverage {
    NativeCoverage {
        inner: Mutex::new(MemCoverage::new()),
    }
}
