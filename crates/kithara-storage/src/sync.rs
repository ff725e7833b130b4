//! The synchronisation primitives of the resource state machine: parking_lot's
//! mutex and std's atomics in every build, loom's under `--cfg loom`, so that
//! `tests/loom.rs` can explore every interleaving of a waiter's registration
//! with the writes, cancels and withdrawals that race it.
//!
//! Only what decides waiters goes through here (the state lock and the
//! atomics published beside it); the rest of the crate uses parking_lot and
//! std directly.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;

/// loom's mutex with parking_lot's API (`lock` returns the guard: there is
/// no poisoning to handle).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
