//! With persisted ranges, checkpoints (msync, then record) run on the core's
//! checkpoint thread, never inside `write_at`; `sync_with` reports there;
//! close and drop still leave the last checkpoint on disk.
//!
//! The checkpoint hook is global to the process, so the tests of this file
//! take turns.

mod common;

use std::{
    path::Path,
    sync::{mpsc, Arc},
    thread::{self, ThreadId},
    time::Duration,
};

use kithara_storage::{
    test_hooks, CancellationToken, MmapOptions, MmapResource, Resource, ResourceExt,
    ResourceStatus, StorageError,
};
use parking_lot::Mutex;
use tempfile::TempDir;

static TURN: Mutex<()> = Mutex::new(());

const PIECE: usize = 64 * 1024;
/// Checkpoints take milliseconds; a lost one fails within this (several
/// lost ones still fail the file within cargo mutants' timeout).
const BOUND: Duration = Duration::from_secs(10);

fn persisted(path: &Path) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.persist_ranges = true;
    Resource::open(CancellationToken::new(), o).unwrap()
}

/// Installs a hook that reports the checkpoint thread's id and then holds
/// the checkpoint until `release` is sent (or a bound passes).
fn hold_checkpoints() -> (mpsc::Receiver<ThreadId>, mpsc::Sender<()>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let release_rx = Mutex::new(release_rx);
    test_hooks::set_before_checkpoint(Some(Arc::new(move || {
        let _ = entered_tx.lock().send(thread::current().id());
        let _ = release_rx.lock().recv_timeout(BOUND);
    })));
    (entered, release)
}

fn unhook() {
    test_hooks::set_before_checkpoint(None);
}

#[test]
fn write_at_returns_while_a_checkpoint_is_held_on_another_thread() {
    let _turn = TURN.lock();
    let dir = TempDir::new().unwrap();
    let res = persisted(&dir.path().join("dl.bin"));
    let (entered, release) = hold_checkpoints();

    // 64 MiB in 64 KiB pieces: four checkpoints' worth, written on a thread
    // of our own so that a checkpoint run inline would show as a stall here.
    let writer = {
        let res = res.clone();
        thread::spawn(move || {
            let piece = vec![3u8; PIECE];
            for i in 0..1024u64 {
                res.write_at(i * PIECE as u64, &piece).unwrap();
            }
            thread::current().id()
        })
    };
    let checkpoint_thread = entered
        .recv_timeout(BOUND)
        .expect("no checkpoint ran on the checkpoint thread");
    // The checkpoint is held; every write still completes.
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(writer.join());
    });
    let writer_thread = done
        .recv_timeout(BOUND)
        .expect("write_at waited for a held checkpoint")
        .unwrap();
    assert_ne!(checkpoint_thread, writer_thread);
    assert_ne!(checkpoint_thread, thread::current().id());
    unhook();
    drop(release);
    res.close();
    let res = persisted(&dir.path().join("dl.bin"));
    assert!(res.contains_range(0..1024 * PIECE as u64));
}

/// The inode of `path` (0 while it is being replaced).
#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |m| m.ino())
}

#[cfg(unix)]
#[test]
fn a_single_sync_is_answered_and_a_commit_is_recorded_without_close() {
    let _turn = TURN.lock();
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let res = persisted(&path);
    res.write_at(0, &[1; 1000]).unwrap();
    // One request, the first of this resource: it must reach the thread.
    let (tx, rx) = mpsc::channel();
    res.sync_with(Box::new(move |result| {
        let _ = tx.send(result);
    }));
    rx.recv_timeout(BOUND)
        .expect("a lone sync_with was never answered")
        .unwrap();
    // A commit queues its own checkpoint: the record says committed while
    // the handle is still open (a process may die before it closes). The
    // record is replaced through a rename: a new inode.
    let ranges = dir.path().join("dl.bin.ranges");
    let before = inode(&ranges);
    res.commit(None).unwrap();
    let deadline = std::time::Instant::now() + BOUND;
    while inode(&ranges) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the commit's checkpoint never recorded it"
        );
        thread::sleep(Duration::from_millis(1));
    }
    std::mem::forget(res);
    let again = persisted(&path);
    assert_eq!(
        again.status(),
        ResourceStatus::Committed {
            final_len: Some(1000)
        }
    );
}

#[test]
fn sync_with_reports_on_the_checkpoint_thread() {
    let _turn = TURN.lock();
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let res = persisted(&path);
    res.write_at(0, &[1; 1000]).unwrap();
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let tx = tx.clone();
        res.sync_with(Box::new(move |result| {
            let _ = tx.send((result, thread::current().id()));
        }));
    }
    for _ in 0..3 {
        let (result, on) = rx.recv_timeout(BOUND).expect("a sync callback was lost");
        result.unwrap();
        assert_ne!(on, thread::current().id());
    }
    // The record is on disk: a process that dies now keeps the range.
    std::mem::forget(res);
    let again = persisted(&path);
    assert!(again.contains_range(0..1000));
    again.close();
    // After close, a sync is answered at once with `Closed`.
    let (tx, rx) = mpsc::channel();
    again.sync_with(Box::new(move |result| {
        let _ = tx.send(result);
    }));
    assert!(matches!(
        rx.recv_timeout(BOUND).unwrap(),
        Err(StorageError::Closed)
    ));
}

#[test]
fn close_and_drop_leave_the_last_checkpoint_even_while_one_is_in_flight() {
    let _turn = TURN.lock();
    let dir = TempDir::new().unwrap();
    for close in [true, false] {
        let path = dir.path().join(format!("dl-{close}.bin"));
        let res = persisted(&path);
        let (entered, release) = hold_checkpoints();
        res.write_at(0, &[5; 8192]).unwrap();
        // The commit queues a checkpoint; the thread takes its snapshot (with
        // the resource in its hands) and is held before it records it.
        res.commit(None).unwrap();
        let (tx, rx) = mpsc::channel();
        res.sync_with(Box::new(move |result| {
            let _ = tx.send(result);
        }));
        entered
            .recv_timeout(BOUND)
            .expect("the checkpoint never started");
        // Nothing changed since that snapshot; close or drop must still see
        // that it is not on disk yet.
        if close {
            res.close();
        } else {
            drop(res);
        }
        let reopened = persisted(&path);
        assert_eq!(
            reopened.status(),
            ResourceStatus::Committed {
                final_len: Some(8192)
            },
            "close={close}: the last checkpoint was lost"
        );
        drop(reopened);
        unhook();
        drop(release);
        rx.recv_timeout(BOUND)
            .expect("the held sync was never answered")
            .unwrap();
    }
}
