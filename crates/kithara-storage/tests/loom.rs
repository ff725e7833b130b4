//! Model checks (loom) of the one step that must never lose a wakeup: a
//! waiter's registration, racing a write that satisfies it, a withdrawal of
//! it, and a cancel of its resource's token. loom runs each test body under
//! every interleaving of the state lock and the atomics beside it.
//!
//! Run with (see CONTRIBUTING.md):
//! `RUSTFLAGS="--cfg loom" cargo test -p kithara-storage --release --test loom`
#![cfg(loom)]

use std::sync::{Arc, Mutex};

use kithara_storage::{
    CancellationToken, MemOptions, MemResource, Resource, ResourceExt, StorageError, WaitOutcome,
    WaitRegistration, WaitResult,
};
use loom::thread;

fn mem(token: CancellationToken) -> MemResource {
    Resource::open(token, MemOptions::default()).unwrap()
}

/// Where a waiter's callback puts what it was told, and how often.
#[derive(Default)]
struct Told(Mutex<Vec<WaitResult>>);

impl Told {
    fn callback(self: &Arc<Self>) -> kithara_storage::WaitCallback {
        let told = Arc::clone(self);
        Box::new(move |r| told.0.lock().unwrap().push(r))
    }

    fn take(&self) -> Vec<WaitResult> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[test]
fn registration_racing_a_covering_write_is_decided_ready_exactly_once() {
    loom::model(|| {
        let res = mem(CancellationToken::new());
        let writer = {
            let res = res.clone();
            thread::spawn(move || res.write_at(0, b"ab").unwrap())
        };
        let told = Arc::new(Told::default());
        let reg = res.register_waiter(0..2, told.callback());
        writer.join().unwrap();
        let results = match reg {
            // Decided at registration: the callback is dropped, never called.
            WaitRegistration::Decided(r) => {
                assert!(told.take().is_empty());
                vec![r]
            }
            WaitRegistration::Pending(_) => told.take(),
        };
        assert_eq!(results.len(), 1, "decided once, neither lost nor twice");
        assert_eq!(*results[0].as_ref().unwrap(), WaitOutcome::Ready);
    });
}

#[test]
fn withdrawal_racing_a_covering_write_either_wins_or_the_callback_runs_once() {
    loom::model(|| {
        let res = mem(CancellationToken::new());
        let told = Arc::new(Told::default());
        let WaitRegistration::Pending(handle) = res.register_waiter(0..2, told.callback()) else {
            panic!("nothing is written yet");
        };
        let writer = {
            let res = res.clone();
            thread::spawn(move || res.write_at(0, b"ab").unwrap())
        };
        let withdrawn = handle.cancel();
        writer.join().unwrap();
        let results = told.take();
        if withdrawn {
            assert!(results.is_empty(), "a withdrawn wait is never called");
        } else {
            assert_eq!(results.len(), 1);
            assert_eq!(*results[0].as_ref().unwrap(), WaitOutcome::Ready);
        }
        assert_eq!(res.pending_waiters(), 0);
    });
}

#[test]
fn registration_racing_a_token_cancel_ends_cancelled_exactly_once() {
    loom::model(|| {
        let token = CancellationToken::new();
        let res = mem(token.clone());
        let canceller = thread::spawn(move || token.cancel());
        let told = Arc::new(Told::default());
        let reg = res.register_waiter(0..2, told.callback());
        canceller.join().unwrap();
        let results = match reg {
            WaitRegistration::Decided(r) => vec![r],
            WaitRegistration::Pending(_) => told.take(),
        };
        assert_eq!(results.len(), 1, "decided once, neither lost nor twice");
        assert!(matches!(results[0], Err(StorageError::Cancelled)));
        assert_eq!(res.pending_waiters(), 0);
    });
}
