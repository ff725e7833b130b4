//! Waking a thread of another process that sleeps on a word of shared memory.
//!
//! Linux: `futex` without `FUTEX_PRIVATE_FLAG`, so the kernel keys the wait by
//! the shared page (file and offset), not by this process's address: a
//! `FUTEX_WAKE` in the writer's process wakes a `FUTEX_WAIT` in a follower's.
//!
//! Elsewhere nothing comparable is both public and old enough to rely on
//! (macOS's `os_sync_wait_on_address` with its shared flag needs macOS 14.4;
//! Windows' `WaitOnAddress` works within one process only), so
//! [`EVENT_DRIVEN`] is false, [`wait`] is never called, [`wake_all`] does
//! nothing, and followers poll the word on a bounded interval instead.
#![forbid(unsafe_code)]

use std::sync::atomic::AtomicU32;

/// Whether [`wait`] and [`wake_all`] work across processes here.
pub(crate) const EVENT_DRIVEN: bool = cfg!(target_os = "linux");

/// Sleeps while `*word == seen`, until a [`wake_all`] on the same word from
/// any process, or a signal; returns at once if the word differs. Callers
/// re-check what they wait for: a return is no promise that it changed.
#[cfg(target_os = "linux")]
pub(crate) fn wait(word: &AtomicU32, seen: u32) {
    use rustix::thread::futex;
    // EAGAIN (the word differs) and EINTR are both "look again".
    let _ = futex::wait(word, futex::Flags::empty(), seen, None);
}

/// Wakes every thread, in any process, sleeping in [`wait`] on `word`.
#[cfg(target_os = "linux")]
pub(crate) fn wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    // The kernel reads the count as an int: i32::MAX is "all".
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX.unsigned_abs());
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn wait(_word: &AtomicU32, _seen: u32) {}

#[cfg(not(target_os = "linux"))]
pub(crate) fn wake_all(_word: &AtomicU32) {}
