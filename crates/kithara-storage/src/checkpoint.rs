#![forbid(unsafe_code)]
//! The checkpoint thread: one per process, started on first use, that runs
//! the slow part of a resource's checkpoint (msync and fdatasync of the data,
//! then the range record) so that it never runs inside a caller's `write_at`,
//! and runs the callbacks of `sync_with` without parking a thread per call.
//!
//! The queue holds at most one entry per resource: a resource enqueues itself
//! only when its own "queued" flag goes from clear to set, and clears it when
//! its job starts, so a burst of writes or of `sync_with` calls is coalesced
//! into one checkpoint. The queue holds weak references: a resource that is
//! dropped while queued is simply skipped (its drop ran the last checkpoint).
//!
//! Lock order: the queue lock is never held while a job runs, and a job never
//! waits for the queue, so a job may enqueue (itself or others) and a resource
//! may be dropped on this thread without deadlock.

use std::{
    collections::VecDeque,
    panic::{self, AssertUnwindSafe},
    sync::{OnceLock, Weak},
    thread,
};

use parking_lot::{Condvar, Mutex};

/// Work a resource hands to the checkpoint thread.
pub(crate) trait Job: Send + Sync {
    /// Runs the resource's pending checkpoint and sync callbacks.
    fn run(&self);
}

struct Worker {
    queue: Mutex<VecDeque<Weak<dyn Job>>>,
    ready: Condvar,
}

fn worker() -> Option<&'static Worker> {
    static WORKER: OnceLock<Option<&'static Worker>> = OnceLock::new();
    *WORKER.get_or_init(|| {
        let worker: &'static Worker = Box::leak(Box::new(Worker {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        thread::Builder::new()
            // At most 15 bytes: Linux cuts thread names there.
            .name("kithara-checkpt".into())
            .spawn(move || worker.run())
            .ok()
            .map(|_| worker)
    })
}

impl Worker {
    fn run(&self) {
        loop {
            let next = {
                let mut queue = self.queue.lock();
                loop {
                    if let Some(job) = queue.pop_front() {
                        break job;
                    }
                    self.ready.wait(&mut queue);
                }
            };
            let Some(job) = next.upgrade() else {
                continue;
            };
            // A panicking callback must not take the thread down with it.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| job.run()));
        }
    }
}

/// Queues `job` for the checkpoint thread. If the thread cannot be started
/// (the OS refused), runs it here instead: slower for the caller, never lost.
pub(crate) fn submit(job: Weak<dyn Job>) {
    match worker() {
        Some(w) => {
            w.queue.lock().push_back(job);
            w.ready.notify_one();
        }
        None => {
            if let Some(job) = job.upgrade() {
                job.run();
            }
        }
    }
}

/// Hooks for this crate's integration tests.
#[cfg(feature = "test-hooks")]
pub mod hooks {
    use std::sync::Arc;

    use parking_lot::Mutex;

    type Hook = Arc<dyn Fn() + Send + Sync>;

    static BEFORE_JOB: Mutex<Option<Hook>> = Mutex::new(None);

    /// Sets a function the checkpoint thread calls in each checkpoint after
    /// it took its snapshot of the ranges and before it flushes and records
    /// them (or removes it with `None`). Tests use it to see which thread
    /// runs checkpoints, and to hold one in flight.
    pub fn set_before_checkpoint(hook: Option<Hook>) {
        *BEFORE_JOB.lock() = hook;
    }

    pub(crate) fn before_record() {
        let hook = BEFORE_JOB.lock().clone();
        if let Some(hook) = hook {
            hook();
        }
    }
}
