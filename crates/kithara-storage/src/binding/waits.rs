//! [`PendingWaits`]: the waits one JavaScript thread has handed out and not
//! yet seen settled.
//!
//! JavaScript gets a number for a wait the core cannot decide at once. The
//! core later calls the wait's callback on whichever thread decides it; the
//! binding carries `(id, result)` over to the JavaScript thread (a napi
//! threadsafe function, a wasm microtask) and there asks [`PendingWaits::settle`]
//! whether to deliver it. A wait withdrawn in the meantime (a timeout, an
//! abort) is never delivered, even if its result was already on its way.
//!
//! The table itself is only touched on its JavaScript thread, so it needs no
//! lock; each binding keeps one per thread.

use std::{
    collections::HashMap,
    ops::Range,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::{ResourceExt, StorageResult, WaitHandle, WaitOutcome, WaitRegistration, WaitResult};

/// The number JavaScript holds for a pending wait.
pub type WaitId = u64;

/// Ids are unique in the process, so an id from one thread can never match
/// another thread's wait.
static NEXT_WAIT_ID: AtomicU64 = AtomicU64::new(1);

/// How [`PendingWaits::register`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// Decided at once; nothing will be delivered.
    Decided(WaitOutcome),
    /// Its result will be delivered later under this id.
    Pending(WaitId),
}

/// The pending waits of one JavaScript thread, by id.
#[derive(Default)]
pub struct PendingWaits {
    handles: HashMap<WaitId, WaitHandle>,
}

impl PendingWaits {
    /// Waits for `range` on `resource`. Decided now: the outcome (or the
    /// error). Otherwise the wait is kept under a new id, and `deliver(id,
    /// result)` is called exactly once, later, from the thread that decides
    /// it, unless the wait is withdrawn first.
    ///
    /// # Errors
    /// What the resource decides at once: `InvalidRange`, `Failed`,
    /// `Cancelled`, `Closed`.
    pub fn register(
        &mut self,
        resource: &dyn ResourceExt,
        range: Range<u64>,
        deliver: impl FnOnce(WaitId, WaitResult) + Send + 'static,
    ) -> StorageResult<Registered> {
        let id = NEXT_WAIT_ID.fetch_add(1, Ordering::Relaxed);
        match resource.register_waiter(range, Box::new(move |result| deliver(id, result))) {
            WaitRegistration::Decided(result) => result.map(Registered::Decided),
            WaitRegistration::Pending(handle) => {
                self.handles.insert(id, handle);
                Ok(Registered::Pending(id))
            }
        }
    }

    /// The result of wait `id` has reached this thread: `true` if the wait
    /// was pending (hand the result to JavaScript), `false` if it was
    /// withdrawn (drop it).
    pub fn settle(&mut self, id: WaitId) -> bool {
        self.handles.remove(&id).is_some()
    }

    /// Withdraws wait `id`: `true` if it was pending, and then its result is
    /// never delivered. `false` for an id already settled or unknown.
    pub fn withdraw(&mut self, id: WaitId) -> bool {
        match self.handles.remove(&id) {
            Some(handle) => {
                // If the core decided it already, its result is on its way
                // and `settle` will drop it.
                handle.cancel();
                true
            }
            None => false,
        }
    }

    /// How many waits are pending.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether no wait is pending.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::{CancellationToken, MemOptions, MemResource, Resource, StorageError};

    fn mem() -> MemResource {
        Resource::open(CancellationToken::new(), MemOptions::default()).unwrap()
    }

    #[test]
    fn decided_at_once_delivers_nothing() {
        let res = mem();
        res.write_at(0, b"ab").unwrap();
        let mut waits = PendingWaits::default();
        let (tx, rx) = mpsc::channel();
        let got = waits.register(&res, 0..2, move |id, r| tx.send((id, r)).unwrap());
        assert_eq!(got.unwrap(), Registered::Decided(WaitOutcome::Ready));
        let (start, end) = (2, 1);
        let err = waits.register(&res, start..end, |_, _| {}).unwrap_err();
        assert!(matches!(err, StorageError::InvalidRange { .. }));
        assert!(waits.is_empty());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_pending_wait_is_delivered_once_and_settled() {
        let res = mem();
        let mut waits = PendingWaits::default();
        let (tx, rx) = mpsc::channel();
        let Registered::Pending(id) = waits
            .register(&res, 0..2, move |id, r| tx.send((id, r)).unwrap())
            .unwrap()
        else {
            panic!("should be pending");
        };
        assert_eq!(waits.len(), 1);
        res.write_at(0, b"ab").unwrap();
        let (got, result) = rx.try_recv().unwrap();
        assert_eq!((got, result.unwrap()), (id, WaitOutcome::Ready));
        assert!(waits.settle(id));
        assert!(!waits.withdraw(id), "settled: nothing left to withdraw");
    }

    #[test]
    fn a_withdrawn_wait_is_never_delivered_even_if_already_decided() {
        let res = mem();
        let mut waits = PendingWaits::default();
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        let Registered::Pending(before) = waits
            .register(&res, 0..2, move |id, r| tx.send((id, r)).unwrap())
            .unwrap()
        else {
            panic!("should be pending");
        };
        let Registered::Pending(after) = waits
            .register(&res, 0..4, move |id, r| tx2.send((id, r)).unwrap())
            .unwrap()
        else {
            panic!("should be pending");
        };
        // Withdrawn before the core decides it: the core drops the callback.
        assert!(waits.withdraw(before));
        res.write_at(0, b"abcd").unwrap();
        let (id, _) = rx.try_recv().unwrap();
        assert_eq!(id, after);
        assert!(rx.try_recv().is_err());
        // Decided, on its way, then withdrawn: settle says drop it.
        assert!(waits.withdraw(after));
        assert!(!waits.settle(after));
    }
}
