#![forbid(unsafe_code)]
//! Progress hooks for whoever tracks availability outside the resource, and
//! the list of them a resource keeps: every observer gets every event, so a
//! second subscriber (another thread, another wrapper of the same resource)
//! never takes events away from the first.

use std::{
    ops::Range,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use parking_lot::RwLock;

/// Told about every byte range that becomes available, the commit, a
/// failure and the close.
///
/// Called on the thread that made the change, after the resource's state
/// lock is released, so an observer may call back into the resource. Keep it
/// cheap: it runs on every `write_at`.
pub trait AvailabilityObserver: Send + Sync {
    /// `range` was just written and is readable.
    fn on_write(&self, range: Range<u64>);

    /// The resource was committed with `final_len` bytes (for `commit(None)`
    /// too, with the length the resource computed).
    fn on_commit(&self, final_len: u64);

    /// The resource was marked failed with `reason`.
    fn on_fail(&self, reason: &str) {
        let _ = reason;
    }

    /// The resource was closed. The last event: the resource drops its
    /// observers right after.
    fn on_close(&self) {}
}

/// Names an observer added with
/// [`ResourceExt::add_observer`](crate::ResourceExt::add_observer), to
/// remove it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObserverId(u64);

type Entry = (ObserverId, Arc<dyn AvailabilityObserver>);

/// The observers of one resource.
///
/// Copy on write: an event clones one `Arc` of the current list under a read
/// lock and calls every observer with no lock held, so an observer may add or
/// remove observers, and a write costs no allocation.
#[derive(Default)]
pub(crate) struct Observers {
    next: AtomicU64,
    list: RwLock<Arc<[Entry]>>,
}

impl Observers {
    /// Adds `observer`; it gets every later event.
    pub(crate) fn add(&self, observer: Arc<dyn AvailabilityObserver>) -> ObserverId {
        let id = ObserverId(self.next.fetch_add(1, Ordering::Relaxed));
        let mut list = self.list.write();
        let mut next: Vec<Entry> = list.iter().cloned().collect();
        next.push((id, observer));
        *list = next.into();
        id
    }

    /// Removes the observer `id`; whether it was there.
    pub(crate) fn remove(&self, id: ObserverId) -> bool {
        let mut list = self.list.write();
        if !list.iter().any(|(i, _)| *i == id) {
            return false;
        }
        *list = list.iter().filter(|(i, _)| *i != id).cloned().collect();
        true
    }

    /// Removes every observer.
    pub(crate) fn clear(&self) {
        *self.list.write() = Arc::new([]);
    }

    /// Calls `event` for every observer, with no lock held.
    pub(crate) fn each(&self, event: impl Fn(&dyn AvailabilityObserver)) {
        let list = Arc::clone(&self.list.read());
        for (_, observer) in list.iter() {
            event(observer.as_ref());
        }
    }
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("len", &self.list.read().len())
            .finish()
    }
}
