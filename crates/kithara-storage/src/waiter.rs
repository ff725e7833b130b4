#![forbid(unsafe_code)]
//! Waiters for byte ranges: registered once, woken by the event that decides them.
//!
//! A waiter is a callback keyed by its range. The resource keeps them in a
//! [`Waiters`] set under its state lock, so checking a range and registering a
//! waiter for it is one atomic step and no wakeup can be lost. Writes wake only
//! the waiters their merged range now covers; commit, fail, cancel, interrupt
//! and close decide all of them. Blocking waits, Rust futures and the Node
//! binding's promises are all built on this one mechanism.

use std::{
    collections::BTreeMap,
    future::Future,
    ops::Range,
    pin::Pin,
    sync::{Arc, Weak},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use parking_lot::{Condvar, Mutex};
use tokio_util::sync::CancellationToken;

use crate::{cancel::CancelWatch, StorageError, StorageResult, WaitOutcome};

/// What a waiter is told: the outcome of its wait, or why it failed.
pub type WaitResult = StorageResult<WaitOutcome>;

/// Called exactly once with the result of a registered wait, on whichever
/// thread decides it (a writer, a committer, a canceller...), outside the
/// resource's locks. Never called if the wait is cancelled through its
/// [`WaitHandle`].
pub type WaitCallback = Box<dyn FnOnce(WaitResult) + Send>;

/// The answer to [`ResourceExt::register_waiter`](crate::ResourceExt::register_waiter).
#[must_use = "a pending registration must be kept or cancelled"]
pub enum WaitRegistration {
    /// The wait was decided at once; the callback was dropped without being called.
    Decided(WaitResult),
    /// The callback will be called later; the handle can withdraw it.
    Pending(WaitHandle),
}

/// Key of a registered waiter: its start offset, then a unique id.
pub(crate) type WaiterKey = (u64, u64);

/// Something that holds waiters and can hand one back by key.
pub(crate) trait WaiterHost: Send + Sync {
    fn take_waiter(&self, key: WaiterKey) -> Option<WaitCallback>;
}

/// A pending wait. Dropping it leaves the wait registered; call
/// [`cancel`](Self::cancel) or [`resolve`](Self::resolve) to end it early.
pub struct WaitHandle {
    host: Weak<dyn WaiterHost>,
    key: WaiterKey,
}

impl WaitHandle {
    pub(crate) fn new(host: Weak<dyn WaiterHost>, key: WaiterKey) -> Self {
        Self { host, key }
    }

    /// Withdraws the wait without calling its callback. Returns `false` if the
    /// callback was already taken (it has run or is running).
    pub fn cancel(&self) -> bool {
        self.take().is_some()
    }

    /// Ends the wait now with `result`, if it is still pending. Used for
    /// per-wait timeouts and cancellation. Returns whether it was pending.
    pub fn resolve(&self, result: WaitResult) -> bool {
        match self.take() {
            Some(callback) => {
                callback(result);
                true
            }
            None => false,
        }
    }

    fn take(&self) -> Option<WaitCallback> {
        self.host.upgrade()?.take_waiter(self.key)
    }
}

impl std::fmt::Debug for WaitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitHandle")
            .field("start", &self.key.0)
            .finish()
    }
}

struct Entry {
    /// End of the range the waiter is woken for: the end it asked for,
    /// clamped to the resource's expected length.
    end: u64,
    /// End of the range it asked for.
    asked_end: u64,
    callback: WaitCallback,
}

/// The pending waiters of one resource, ordered by range start.
#[derive(Default)]
pub(crate) struct Waiters {
    next_id: u64,
    entries: BTreeMap<WaiterKey, Entry>,
}

impl Waiters {
    /// Adds a waiter for `range`, woken once `range` clamped to `limit` (the
    /// expected length) is written.
    pub(crate) fn insert(
        &mut self,
        range: Range<u64>,
        limit: Option<u64>,
        callback: WaitCallback,
    ) -> WaiterKey {
        self.next_id += 1;
        let key = (range.start, self.next_id);
        self.entries.insert(
            key,
            Entry {
                end: limit.map_or(range.end, |l| range.end.min(l)),
                asked_end: range.end,
                callback,
            },
        );
        key
    }

    /// After the expected length changed to `limit`: clamps every waiter's
    /// range to it afresh, and removes and returns the waiters `decide`
    /// settles now (given the range as asked). Keys stay, so the handles of
    /// the waiters kept stay valid.
    pub(crate) fn redecide(
        &mut self,
        limit: Option<u64>,
        decide: impl Fn(Range<u64>) -> Option<WaitResult>,
    ) -> Vec<(WaitCallback, WaitResult)> {
        let mut settled = Vec::new();
        let keys: Vec<WaiterKey> = self.entries.keys().copied().collect();
        for key in keys {
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            entry.end = limit.map_or(entry.asked_end, |l| entry.asked_end.min(l));
            if let Some(result) = decide(key.0..entry.asked_end) {
                if let Some(entry) = self.entries.remove(&key) {
                    settled.push((entry.callback, result));
                }
            }
        }
        settled
    }

    pub(crate) fn remove(&mut self, key: WaiterKey) -> Option<WaitCallback> {
        self.entries.remove(&key).map(|e| e.callback)
    }

    /// Removes and returns the waiters whose whole range lies inside `span`.
    pub(crate) fn take_within(&mut self, span: &Range<u64>) -> Vec<WaitCallback> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let keys: Vec<WaiterKey> = self
            .entries
            .range((span.start, 0)..(span.end, 0))
            .filter(|(_, e)| e.end <= span.end)
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Removes every waiter, with its range as asked.
    pub(crate) fn drain(&mut self) -> Vec<(Range<u64>, WaitCallback)> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|((start, _), e)| (start..e.asked_end, e.callback))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Options of a blocking wait: a timeout and a per-wait cancellation token.
/// Neither changes the resource's lifecycle: they end only this wait.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up with [`StorageError::Timeout`] after this long.
    pub timeout: Option<Duration>,
    /// Give up with [`StorageError::Cancelled`] when this token is cancelled.
    pub cancel: Option<CancellationToken>,
}

impl WaitOptions {
    /// No timeout and no token: wait until the resource decides.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A one-shot slot a blocking waiter sleeps on.
#[derive(Default)]
struct Slot {
    result: Mutex<Option<WaitResult>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, result: WaitResult) {
        *self.result.lock() = Some(result);
        self.ready.notify_one();
    }
}

/// A check a blocking wait makes every [`every`](Self::every) while it
/// sleeps; when it answers `true` the wait is given up with `Cancelled`.
///
/// For a thread that no event of the resource will wake when its runtime
/// stops: a Node worker being terminated, whose env refuses JavaScript from
/// then on. Wakes by the resource stay event-driven; only this check polls.
pub(crate) struct Abandon<'a> {
    /// How often to ask.
    pub(crate) every: Duration,
    /// Whether to give the wait up.
    pub(crate) check: &'a mut dyn FnMut() -> bool,
}

/// Blocks the calling thread on a wait registered through `register`.
///
/// Shared by every [`ResourceExt`](crate::ResourceExt) implementation: the
/// only thing a resource must provide is `register_waiter`.
pub(crate) fn block_on_wait(
    register: impl FnOnce(WaitCallback) -> WaitRegistration,
    opts: &WaitOptions,
    mut abandon: Option<Abandon<'_>>,
) -> WaitResult {
    let slot = Arc::new(Slot::default());
    let filler = Arc::clone(&slot);
    let handle = match register(Box::new(move |r| filler.put(r))) {
        WaitRegistration::Decided(r) => return r,
        WaitRegistration::Pending(handle) => Arc::new(handle),
    };
    let _cancel_watch = opts.cancel.as_ref().map(|token| {
        let handle = Arc::clone(&handle);
        CancelWatch::new(token, move || {
            handle.resolve(Err(StorageError::Cancelled));
        })
    });
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut guard = slot.result.lock();
    loop {
        if let Some(result) = guard.take() {
            return result;
        }
        let next_check = abandon.as_ref().map(|a| Instant::now() + a.every);
        let wake_at = match (deadline, next_check) {
            (Some(d), Some(c)) => Some(d.min(c)),
            (d, c) => d.or(c),
        };
        let Some(wake_at) = wake_at else {
            slot.ready.wait(&mut guard);
            continue;
        };
        if !slot.ready.wait_until(&mut guard, wake_at).timed_out() || guard.is_some() {
            continue;
        }
        drop(guard);
        let give_up = if deadline.is_some_and(|d| Instant::now() >= d) {
            Some(StorageError::Timeout)
        } else if abandon.as_mut().is_some_and(|a| (a.check)()) {
            Some(StorageError::Cancelled)
        } else {
            None
        };
        if let Some(err) = give_up {
            if handle.cancel() {
                return Err(err);
            }
            // Decided meanwhile: its result is on its way.
        }
        guard = slot.result.lock();
    }
}

#[derive(Default)]
struct FutureShared {
    result: Option<WaitResult>,
    waker: Option<Waker>,
}

/// A wait as a [`Future`]: no thread is blocked, the task is woken by the
/// event that decides the range. Dropping it withdraws the wait.
///
/// Runtime-agnostic; it is what the WebAssembly binding turns into a promise.
pub struct WaitFuture {
    shared: Arc<Mutex<FutureShared>>,
    handle: Option<WaitHandle>,
}

impl WaitFuture {
    pub(crate) fn new(register: impl FnOnce(WaitCallback) -> WaitRegistration) -> Self {
        let shared = Arc::new(Mutex::new(FutureShared::default()));
        let filler = Arc::clone(&shared);
        let callback: WaitCallback = Box::new(move |r| {
            let waker = {
                let mut s = filler.lock();
                s.result = Some(r);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        let handle = match register(callback) {
            WaitRegistration::Decided(r) => {
                shared.lock().result = Some(r);
                None
            }
            WaitRegistration::Pending(h) => Some(h),
        };
        Self { shared, handle }
    }

    /// The handle of the underlying wait, while it is pending.
    pub fn handle(&self) -> Option<&WaitHandle> {
        self.handle.as_ref()
    }
}

impl Future for WaitFuture {
    type Output = WaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WaitResult> {
        let this = self.get_mut();
        let mut s = this.shared.lock();
        match s.result.take() {
            Some(r) => {
                this.handle = None;
                Poll::Ready(r)
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for WaitFuture {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.cancel();
        }
    }
}

impl std::fmt::Debug for WaitFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitFuture")
            .field("pending", &self.handle.is_some())
            .finish()
    }
}
