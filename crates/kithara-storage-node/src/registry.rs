//! A process-wide registry of weak references, so a resource or token can
//! reach another worker thread as a plain number.
//!
//! Each shared object gets one id for its lifetime, and removes its entry
//! when it drops, so the registry only ever holds live objects.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Mutex, OnceLock, Weak,
    },
};

/// The ids of objects that were shared, by registry.
pub struct Registry<T> {
    entries: Mutex<BTreeMap<i64, Weak<T>>>,
    next_id: AtomicI64,
}

impl<T> Registry<T> {
    /// An empty registry (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            entries: Mutex::new(BTreeMap::new()),
            next_id: AtomicI64::new(1),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Weak<T>>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of `object`, registering it on first use. `slot` is the
    /// object's own record of its id.
    pub fn share(&self, slot: &OnceLock<i64>, object: Weak<T>) -> i64 {
        *slot.get_or_init(|| {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.entries().insert(id, object);
            id
        })
    }

    /// The live object behind `id`, if any.
    pub fn get(&self, id: i64) -> Option<std::sync::Arc<T>> {
        let weak = self.entries().get(&id).cloned();
        weak.and_then(|w| w.upgrade())
    }

    /// Forgets `id` (called by the object when it drops).
    pub fn remove(&self, slot: &OnceLock<i64>) {
        if let Some(id) = slot.get() {
            self.entries().remove(id);
        }
    }

    /// How many objects are registered (for leak checks).
    pub fn len(&self) -> usize {
        self.entries().len()
    }
}
