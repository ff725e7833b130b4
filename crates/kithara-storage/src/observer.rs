#![forbid(unsafe_code)]
//! Progress hooks for whoever tracks availability outside the resource.

use std::ops::Range;

/// Told about every byte range that becomes available and about the commit.
///
/// Called on the writing thread after the resource's state lock is released,
/// so an observer may call back into the resource. Keep it cheap: it runs on
/// every `write_at`.
pub trait AvailabilityObserver: Send + Sync {
    /// `range` was just written and is readable.
    fn on_write(&self, range: Range<u64>);

    /// The resource was committed with `final_len` bytes (for `commit(None)`
    /// too, with the length the resource computed).
    fn on_commit(&self, final_len: u64);
}
