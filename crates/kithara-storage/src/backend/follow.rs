#![forbid(unsafe_code)]
//! Followers: resources whose ranges and commit come from a writer in
//! another process.
//!
//! A driver that opens a follower hands the resource a [`Feed`] (in
//! [`DriverState`](super::DriverState)): a [`Source`] that says what the
//! writer published, and the thread that waits on it. The resource merges
//! what a source says into its own state ([`Target::absorb`], under its state
//! lock), which wakes
//! its waiters through the normal path, so waits, streams and status of a
//! follower work as they do in the writer's own process.
//!
//! Two ways bring a follower up to date:
//!
//! - **On demand.** Every query of a follower (`contains_range`, `next_gap`,
//!   `ranges`, `len`, `status`, a wait being registered, a read past what it
//!   knows) first asks the source for news. A source answers "nothing new"
//!   with one atomic load, so queries stay cheap.
//! - **On a write.** While the follower has pending waits, one thread per
//!   followed resource sleeps in [`Source::wait`] (a futex on Linux: woken
//!   by the writer's write, not by a timer) and merges what the writer
//!   publishes. With no pending waits it parks on a local condvar, so the
//!   writer is never asked to wake it: a write nobody waits for costs the
//!   writer no system call. A new waiter wakes the thread ([`Feed::poke`]).
//!
//! The thread holds the resource weakly, ends when the resource is
//! committed, closed or dropped ([`Feed::stop`] interrupts its wait), and
//! runs waiter callbacks as a writer thread would.
//!
//! # Why no wakeup is lost
//!
//! A waiter is registered after the resource asked the source for news; the
//! thread then either sees the waiter ([`Target::pending`]) before it
//! sleeps, or is poked after it parked (`poked` is set under the control
//! lock, so a poke between the check and the park is seen by the park). In
//! [`Source::wait`] the source sleeps only if nothing was published since the
//! last time anyone asked it (see `mmap::live` for the shared-memory half).

use std::{
    fmt,
    ops::Range,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Weak,
    },
    thread,
};

use parking_lot::{Condvar, Mutex};

/// What a writer published, as a source reads it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    /// Ranges holding written bytes (all of them, or at least every range
    /// published since the last answer).
    pub(crate) ranges: Vec<Range<u64>>,
    /// `Some(len)` once the writer committed.
    pub(crate) final_len: Option<u64>,
    /// The file at the path is no longer the one followed (replaced whole):
    /// nothing more will come.
    pub(crate) gone: bool,
}

/// Where a follower learns what its writer published.
pub(crate) trait Source: Send + Sync {
    /// What changed since the last call (by anyone), or `None`. Cheap when
    /// nothing did.
    fn poll(&self) -> Option<Published>;

    /// Sleeps until the writer may have published something since the last
    /// [`poll`](Self::poll), or [`interrupt`](Self::interrupt) is called;
    /// returns at once if it already has. May return early.
    fn wait(&self);

    /// Makes a current [`wait`](Self::wait) return, and every later one, for good.
    fn interrupt(&self);
}

/// The resource side: what the follow thread drives.
pub(crate) trait Target: Send + Sync {
    /// Asks `source` for news and merges it into the resource, waking the
    /// waiters it decides. Returns `true` when following is over
    /// (committed, closed, gone).
    ///
    /// The follow thread and every query of the resource ask concurrently,
    /// and a source answers each piece of news once: so the asking and the
    /// merging are one step under the resource's state lock, and a query
    /// that hears "nothing new" and then takes that lock finds the news
    /// merged, whoever read it.
    fn absorb(&self, source: &dyn Source) -> bool;

    /// Whether the resource has waits pending.
    fn pending(&self) -> bool;
}

#[derive(Default)]
struct Control {
    /// A waiter was registered since the thread last looked.
    poked: bool,
    stopped: bool,
}

/// A follower's link to its writer: the source, and the thread that waits
/// on it while the resource has pending waits.
#[derive(Clone)]
pub struct Feed {
    source: Arc<dyn Source>,
    control: Arc<(Mutex<Control>, Condvar)>,
    /// Following is over: the writer committed, or the file is gone, or the
    /// resource closed.
    over: Arc<AtomicBool>,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("stopped", &self.control.0.lock().stopped)
            .finish_non_exhaustive()
    }
}

impl Feed {
    pub(crate) fn new(source: Arc<dyn Source>) -> Self {
        Self {
            source,
            control: Arc::default(),
            over: Arc::default(),
        }
    }

    /// Merges into `target` what the writer published since anyone last
    /// asked (see [`Target::absorb`]). Once that says following is over
    /// (committed, closed, gone), whether a query or the thread learned it,
    /// the thread is stopped, once, and later calls return at once.
    pub(crate) fn merge_into(&self, target: &dyn Target) {
        if self.over.load(Ordering::Acquire) {
            return;
        }
        if target.absorb(&*self.source) && !self.over.swap(true, Ordering::AcqRel) {
            self.stop();
        }
    }

    /// Starts the thread that follows the writer for `target`.
    pub(crate) fn start(&self, target: Weak<dyn Target>) {
        let feed = self.clone();
        let spawned = thread::Builder::new()
            // At most 15 bytes: Linux cuts thread names there.
            .name("kithara-follow".into())
            .stack_size(256 * 1024)
            .spawn(move || feed.run(&target));
        if spawned.is_err() {
            // Without the thread, waits are still decided by every query
            // and registration; only a wake by the writer's write is lost.
            self.stop();
        }
    }

    /// A waiter was registered: the thread should wait on the source.
    pub(crate) fn poke(&self) {
        let (lock, ready) = &*self.control;
        lock.lock().poked = true;
        ready.notify_one();
    }

    /// Ends the thread (close, drop). Idempotent.
    pub(crate) fn stop(&self) {
        let (lock, ready) = &*self.control;
        lock.lock().stopped = true;
        ready.notify_one();
        self.source.interrupt();
    }

    fn run(&self, target: &Weak<dyn Target>) {
        loop {
            let Some(resource) = target.upgrade() else {
                return;
            };
            self.merge_into(&*resource);
            if self.over.load(Ordering::Acquire) {
                return;
            }
            let pending = resource.pending();
            // Never sleep holding the resource: its last handle may go.
            drop(resource);
            if pending {
                if self.control.0.lock().stopped {
                    return;
                }
                self.source.wait();
            } else if !self.park() {
                return;
            }
        }
    }

    /// Sleeps until poked or stopped; `false` when stopped.
    fn park(&self) -> bool {
        let (lock, ready) = &*self.control;
        let mut control = lock.lock();
        while !control.poked && !control.stopped {
            ready.wait(&mut control);
        }
        control.poked = false;
        !control.stopped
    }
}
