#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::{
    path::Path,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use kithara_storage::{
    CancellationToken, MemOptions, MemResource, MmapOptions, MmapResource, OpenMode, Resource,
    ResourceExt, StorageResult, WaitOutcome,
};

/// Generous bound for "wakes promptly"; the precise figures live in bench/.
pub const PROMPT: Duration = Duration::from_secs(5);

pub fn mem() -> MemResource {
    Resource::open(CancellationToken::new(), MemOptions::default()).unwrap()
}

pub fn mmap_at(path: &Path) -> MmapResource {
    Resource::open(CancellationToken::new(), MmapOptions::new(path)).unwrap()
}

pub fn mmap_mode(path: &Path, mode: OpenMode) -> StorageResult<MmapResource> {
    let mut opts = MmapOptions::new(path);
    opts.mode = mode;
    Resource::open(CancellationToken::new(), opts)
}

/// Runs a blocking wait on another thread and hands back a receiver for its
/// result, after making sure the waiter is registered.
pub fn spawn_wait<R: ResourceExt + Clone>(
    res: &R,
    range: std::ops::Range<u64>,
) -> mpsc::Receiver<StorageResult<WaitOutcome>> {
    let (tx, rx) = mpsc::channel();
    let r = res.clone();
    thread::spawn(move || {
        let _ = tx.send(r.wait_range(range));
    });
    rx
}

/// Waits until `pending()` reports at least `n` (waiters have registered).
pub fn until_pending(pending: impl Fn() -> usize, n: usize) {
    let deadline = Instant::now() + PROMPT;
    while pending() < n {
        assert!(Instant::now() < deadline, "waiters never registered");
        thread::sleep(Duration::from_millis(1));
    }
}

pub fn both_backends(dir: &Path) -> Vec<(&'static str, kithara_storage::StorageResource)> {
    vec![
        ("mem", mem().into()),
        ("mmap", mmap_at(&dir.join("both.bin")).into()),
    ]
}
