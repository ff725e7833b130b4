#![forbid(unsafe_code)]
//! Turns a [`CancellationToken`] into a callback, without a thread or a runtime.
//!
//! The token's `cancelled()` future is polled once with a waker of our own;
//! `cancel()` wakes that waker synchronously, and the waker runs the callback.
//! This is what lets a cancelled token wake blocked and async waiters at once
//! instead of at the next poll.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Wake, Waker},
};

use parking_lot::Mutex;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

type Callback = Box<dyn Fn() + Send + Sync>;

struct Watcher {
    token: CancellationToken,
    future: Mutex<Option<Pin<Box<WaitForCancellationFutureOwned>>>>,
    on_cancel: Callback,
    fired: AtomicBool,
}

impl Watcher {
    fn fire(&self) {
        if !self.fired.swap(true, Ordering::AcqRel) {
            (self.on_cancel)();
        }
    }

    /// Polls the token's future so that it holds our waker; fires if it is done.
    fn poll(self: &Arc<Self>) {
        let waker = Waker::from(Arc::clone(self));
        let mut cx = Context::from_waker(&waker);
        let ready = match self.future.lock().as_mut() {
            Some(fut) => fut.as_mut().poll(&mut cx).is_ready(),
            None => return,
        };
        if ready {
            self.future.lock().take();
            self.fire();
        }
    }
}

impl Wake for Watcher {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.token.is_cancelled() {
            self.future.lock().take();
            self.fire();
        } else {
            // A wake without cancellation: register again.
            self.poll();
        }
    }
}

/// Runs a callback once when a token is cancelled; dropping it unregisters.
///
/// If the token is already cancelled, the callback runs inside [`CancelWatch::new`].
pub(crate) struct CancelWatch {
    watcher: Arc<Watcher>,
}

impl CancelWatch {
    pub(crate) fn new(
        token: &CancellationToken,
        on_cancel: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let watcher = Arc::new(Watcher {
            token: token.clone(),
            future: Mutex::new(Some(Box::pin(token.clone().cancelled_owned()))),
            on_cancel: Box::new(on_cancel),
            fired: AtomicBool::new(false),
        });
        watcher.poll();
        Self { watcher }
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        // The future holds our waker, which holds the watcher: break the cycle.
        let future = self.watcher.future.lock().take();
        drop(future);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn fires_once_on_cancel_and_at_once_if_already_cancelled() {
        let token = CancellationToken::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hits);
        let _watch = CancelWatch::new(&token, move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        token.cancel();
        token.cancel();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        let h = Arc::clone(&hits);
        let _late = CancelWatch::new(&token, move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn child_token_cancel_via_parent_fires_and_drop_unregisters() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hits);
        let watch = CancelWatch::new(&child, move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let h = Arc::clone(&hits);
        let dropped = CancelWatch::new(&child, move || {
            h.fetch_add(10, Ordering::SeqCst);
        });
        drop(dropped);
        parent.cancel();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        drop(watch);
    }
}
