//! A follower's thread ends once nothing more can come (the writer
//! committed), whether the thread or a query learned it, while the follower
//! itself stays open. Its own test binary: it counts the threads of this
//! process by name, which tests running beside it would disturb.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
use kithara_storage::{OpenMode, ResourceExt, WaitOutcome};
use tempfile::TempDir;

/// Waits (bounded) until this process has `n` follow threads.
fn until_follow_threads(n: usize, what: &str) {
    eventually(
        &format!("{what}: expected {n} follow threads"),
        Duration::from_secs(10),
        || threads_named("kithara-follow") == n,
    );
}

#[test]
fn a_followers_thread_ends_with_the_commit_however_it_is_learned() {
    let dir = TempDir::new().unwrap();

    // Learned by the thread itself, for a pending wait.
    let path = dir.path().join("waited.bin");
    let w = persisted(&path, OpenMode::Auto);
    let f = persisted(&path, OpenMode::ReadOnly);
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
    let w = persisted(&path, OpenMode::Auto);
    let g = persisted(&path, OpenMode::ReadOnly);
    until_follow_threads(1, "after the second open");
    w.write_at(0, &pattern(0..10)).unwrap();
    w.commit(Some(10)).unwrap();
    assert_eq!(g.len(), Some(10));
    until_follow_threads(0, "after a commit a query learned");
    drop((f, g));
}
