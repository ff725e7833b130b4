//! A follower's thread ends once nothing more can come (the writer
//! committed), whether the thread or a query learned it, while the follower
//! itself stays open. Its own test binary: it counts the threads of this
//! process by name, which tests running beside it would disturb.
#![cfg(target_os = "linux")]

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::*;
use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, OpenMode, Resource, ResourceExt, WaitOutcome,
};
use tempfile::TempDir;

fn open(path: &Path, mode: OpenMode) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.mode = mode;
    o.persist_ranges = true;
    Resource::open(CancellationToken::new(), o).unwrap()
}

/// Threads of this process named as the follow thread names itself.
fn follow_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "kithara-follow")
        .count()
}

/// Waits (bounded) until `follow_threads()` is `n`.
fn until_follow_threads(n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while follow_threads() != n {
        assert!(
            Instant::now() < deadline,
            "{what}: {} follow threads, expected {n}",
            follow_threads()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_followers_thread_ends_with_the_commit_however_it_is_learned() {
    let dir = TempDir::new().unwrap();

    // Learned by the thread itself, for a pending wait.
    let path = dir.path().join("waited.bin");
    let w = open(&path, OpenMode::Auto);
    let f = open(&path, OpenMode::ReadOnly);
    assert!(f.is_follower());
    until_follow_threads(1, "after the open");
    let past = spawn_wait(&f, 100..101);
    until_pending(|| f.pending_waiters(), 1);
    w.write_at(0, &pattern(0..10)).unwrap();
    w.commit(Some(10)).unwrap();
    assert_eq!(
        past.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Eof
    );
    until_follow_threads(0, "after a commit the thread learned");
    assert_eq!(f.len(), Some(10), "the follower itself stays usable");

    // Learned by a query, with nothing pending.
    let path = dir.path().join("queried.bin");
    let w = open(&path, OpenMode::Auto);
    let g = open(&path, OpenMode::ReadOnly);
    until_follow_threads(1, "after the second open");
    w.write_at(0, &pattern(0..10)).unwrap();
    w.commit(Some(10)).unwrap();
    assert_eq!(g.len(), Some(10));
    until_follow_threads(0, "after a commit a query learned");
    drop((f, g));
}
