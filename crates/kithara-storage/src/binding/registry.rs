//! Process-wide registries of weak references, so that a resource or a token
//! can reach another thread (a worker) as a plain number.
//!
//! An object gets one id the first time it is shared and keeps it for life;
//! its entry is removed when it drops, so a registry only holds live objects
//! and never keeps one alive.

use std::{
    collections::BTreeMap,
    ops::Deref,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock, Weak,
    },
};

use super::{AnyResource, ErrorDetails};
use crate::CancellationToken;

/// Shared objects of one kind, by id.
pub struct Registry<T: 'static> {
    /// What the registry holds, for error messages (`resource`, `token`).
    what: &'static str,
    entries: Mutex<BTreeMap<u64, Weak<Shared<T>>>>,
    next_id: AtomicU64,
}

/// A value that can be shared through its registry: [`Shared::share`] gives
/// its id, [`Registry::lookup`] finds it again while something holds it.
pub struct Shared<T: 'static> {
    value: T,
    id: OnceLock<u64>,
    registry: &'static Registry<T>,
}

/// Resources that were shared with `share()`.
pub static RESOURCES: Registry<AnyResource> = Registry::new("resource");
/// Tokens that were shared with `share()`.
pub static TOKENS: Registry<CancellationToken> = Registry::new("token");

/// A resource as the bindings hold it.
pub type SharedResource = Arc<Shared<AnyResource>>;
/// A token as the bindings hold it.
pub type SharedToken = Arc<Shared<CancellationToken>>;

impl<T: Send + Sync + 'static> Registry<T> {
    /// An empty registry of `what`s (usable in a `static`).
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            entries: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<u64, Weak<Shared<T>>>> {
        // A panic while the lock was held cannot leave the map inconsistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `value`, ready to be shared through this registry (not registered
    /// until [`Shared::share`] is called).
    pub fn wrap(&'static self, value: T) -> Arc<Shared<T>> {
        Arc::new(Shared {
            value,
            id: OnceLock::new(),
            registry: self,
        })
    }

    /// The live object shared under `id`.
    ///
    /// # Errors
    /// `ERR_STORAGE_CLOSED` once every holder of it has dropped it.
    #[allow(clippy::result_large_err)] // the error is what a binding throws, once
    pub fn lookup(&self, id: u64) -> Result<Arc<Shared<T>>, ErrorDetails> {
        let weak = self.entries().get(&id).cloned();
        weak.and_then(|w| w.upgrade()).ok_or_else(|| {
            ErrorDetails::new(
                "ERR_STORAGE_CLOSED",
                format!(
                    "shared {} {id} is gone: every object holding it was dropped",
                    self.what
                ),
            )
        })
    }

    /// How many objects are registered (for leak checks).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Send + Sync + 'static> Shared<T> {
    /// The id of this object in its registry, registering it on first use.
    pub fn share(self: &Arc<Self>) -> u64 {
        *self.id.get_or_init(|| {
            let id = self.registry.next_id.fetch_add(1, Ordering::Relaxed);
            self.registry.entries().insert(id, Arc::downgrade(self));
            id
        })
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("value", &self.value)
            .field("id", &self.id.get())
            .finish()
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: 'static> Drop for Shared<T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.get() {
            let mut entries = self
                .registry
                .entries
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            entries.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NUMBERS: Registry<u32> = Registry::new("number");

    #[test]
    fn one_id_per_object_found_while_held_and_forgotten_on_drop() {
        let a = NUMBERS.wrap(7);
        let id = a.share();
        assert_eq!(a.share(), id);
        let b = NUMBERS.lookup(id).unwrap();
        assert_eq!(*b.as_ref().deref(), 7);
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let gone = NUMBERS.lookup(id).unwrap_err();
        assert_eq!(gone.code, "ERR_STORAGE_CLOSED");
        assert!(gone.message.contains("shared number"));
        assert!(NUMBERS.entries().get(&id).is_none());
    }
}
