//! Several handles and several processes on one file: one writer (the lock),
//! followers that follow it live (the live region), and the takeover of a
//! writer killed with `kill -9`. Child processes run `writer_child` (see
//! `common`), driven line by line.

mod common;

use std::{fs, ops::Range, path::Path, sync::mpsc::TryRecvError};

use common::*;
use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, OpenMode, Resource, ResourceExt, ResourceStatus,
    StorageError, WaitOutcome,
};
use tempfile::TempDir;

fn open(path: &Path, mode: OpenMode, persist: bool) -> Result<MmapResource, StorageError> {
    let mut o = MmapOptions::new(path);
    o.mode = mode;
    o.persist_ranges = persist;
    Resource::open(CancellationToken::new(), o)
}

fn writer(path: &Path) -> MmapResource {
    let res = open(path, OpenMode::Auto, true).unwrap();
    assert!(!res.is_follower());
    res
}

fn follower(path: &Path) -> MmapResource {
    let res = open(path, OpenMode::ReadOnly, true).unwrap();
    assert!(res.is_follower());
    res
}

fn assert_locked(result: Result<MmapResource, StorageError>, path: &Path) {
    match result {
        Err(StorageError::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
}

/// Every byte `res` claims holds the `byte_at` pattern.
fn assert_claims_hold(res: &MmapResource) {
    for r in res.ranges() {
        let mut buf = vec![0; (r.end - r.start) as usize];
        assert_eq!(res.read_at(r.start, &mut buf).unwrap(), buf.len());
        assert!(buf == pattern(r.clone()), "wrong bytes in {r:?}");
    }
}

fn spawn_writer(path: &Path, mode: &str) -> Child {
    let child = Child::spawn(
        "writer_child",
        &[
            ("KITHARA_TEST_PATH", path.to_str().unwrap()),
            ("KITHARA_TEST_MODE", mode),
        ],
    );
    child
}

#[test]
#[ignore = "run by the tests of this file in a child process"]
fn writer_child() {
    common::writer_child();
}

#[test]
fn a_second_writer_in_this_process_is_locked_until_the_first_lets_go() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let first = writer(&path);
    first.write_at(0, &pattern(0..100)).unwrap();
    assert_locked(open(&path, OpenMode::ReadWrite, true), &path);
    assert_locked(open(&path, OpenMode::ReadWrite, false), &path);
    // Auto with persisted ranges gives way: a follower, not an error.
    let second = open(&path, OpenMode::Auto, true).unwrap();
    assert!(second.is_follower());
    assert!(matches!(
        second.write_at(0, b"x"),
        Err(StorageError::ReadOnly)
    ));
    assert!(second.contains_range(0..100));
    // Followers hold no lock: closing the writer lets the next one in.
    first.close();
    let next = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert!(!next.is_follower());
    assert!(next.contains_range(0..100));
    // Dropping lets go as closing does.
    drop(next);
    drop(open(&path, OpenMode::ReadWrite, true).unwrap());

    // Without persisted ranges too.
    let plain = dir.path().join("plain.bin");
    let first = open(&plain, OpenMode::Auto, false).unwrap();
    assert_locked(open(&plain, OpenMode::ReadWrite, false), &plain);
    first.close();
    open(&plain, OpenMode::ReadWrite, false).unwrap();
}

/// A child forked while a writer holds the file shares the lock's open file
/// description until it execs (a service spawning `ffprobe`, say) or exits:
/// closing or dropping the writer must free the file at once all the same.
#[cfg(unix)]
#[test]
fn a_forked_child_does_not_keep_a_closed_writers_lock() {
    let dir = TempDir::new().unwrap();
    for close in [true, false] {
        let path = dir.path().join(format!("forked-{close}.bin"));
        let first = writer(&path);
        first.write_at(0, &pattern(0..10)).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: the child only calls async-signal-safe functions (sleep,
        // _exit) before it ends; the parent kills and reaps it below.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            #[allow(unsafe_code)]
            // SAFETY: as above.
            unsafe {
                libc::sleep(30);
                libc::_exit(0);
            }
        }
        assert!(pid > 0, "fork failed");
        if close {
            first.close();
        } else {
            drop(first);
        }
        let next = open(&path, OpenMode::ReadWrite, true);
        #[allow(unsafe_code)]
        // SAFETY: `pid` is our child; waitpid with a null status pointer.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        let next = next.unwrap_or_else(|e| panic!("close={close}: {e:?}"));
        assert!(next.contains_range(0..10));
    }
}

#[test]
fn a_writer_in_another_process_locks_the_file_until_it_exits_or_is_killed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let mut child = spawn_writer(&path, "auto");
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    child.run("write 0 1000");
    assert_locked(open(&path, OpenMode::ReadWrite, true), &path);
    // A second writer in yet another process is refused the same way.
    let other = spawn_writer(&path, "readWrite");
    assert_eq!(other.expect("ERR"), "ERR ERR_STORAGE_LOCKED");
    drop(other);
    child.finish();
    let next = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert!(next.contains_range(0..1000));
    next.close();

    let mut child = spawn_writer(&path, "readWrite");
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    child.run("write 1000 1000");
    assert_locked(open(&path, OpenMode::ReadWrite, true), &path);
    child.kill();
    // The lock died with the process.
    let next = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert!(next.contains_range(0..2000));
}

#[test]
fn a_follower_wakes_on_the_write_reads_its_bytes_and_sees_the_commit() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let w = writer(&path);
    w.write_at(0, &pattern(0..4096)).unwrap();
    let f = follower(&path);
    assert_eq!(f.status(), ResourceStatus::Active);
    assert!(f.contains_range(0..4096) && !f.contains_range(4096..4097));

    let waiting = spawn_wait(&f, 4096..8192);
    until_pending(|| f.pending_waiters(), 1);
    w.write_at(4096, &pattern(4096..6000)).unwrap();
    assert!(waiting.try_recv().is_err(), "woken by half the range");
    w.write_at(6000, &pattern(6000..8192)).unwrap();
    assert_eq!(
        waiting.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
    assert_claims_hold(&f);
    assert_eq!(f.ranges(), vec![0..8192]);

    // Far past the end: decided by the commit.
    let past = spawn_wait(&f, 20_000..20_001);
    until_pending(|| f.pending_waiters(), 1);
    w.write_at(8192, &pattern(8192..9000)).unwrap();
    w.commit(Some(9000)).unwrap();
    assert_eq!(
        past.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Eof
    );
    assert_eq!(
        f.status(),
        ResourceStatus::Committed {
            final_len: Some(9000)
        }
    );
    assert_eq!(f.len(), Some(9000));
    let mut all = Vec::new();
    f.read_into(&mut all).unwrap();
    assert!(all == pattern(0..9000));
}

#[test]
fn a_follower_in_this_process_follows_a_writer_in_another() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let mut child = spawn_writer(&path, "auto");
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    child.run("write 0 10");
    let f = follower(&path);
    assert!(f.contains_range(0..10));
    // A read past what the follower knew merges the writer's news first.
    child.run("write 10 10");
    let mut buf = [0u8; 10];
    assert_eq!(f.read_at(10, &mut buf).unwrap(), 10);
    assert_eq!(buf.to_vec(), pattern(10..20));
    let waiting = spawn_wait(&f, 100_000..300_000);
    until_pending(|| f.pending_waiters(), 1);
    child.run("write 100000 150000");
    assert!(waiting.try_recv().is_err(), "woken by part of the range");
    child.run("write 250000 50000");
    assert_eq!(
        waiting.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
    assert_claims_hold(&f);
    let end = spawn_wait(&f, 400_000..400_001);
    until_pending(|| f.pending_waiters(), 1);
    child.run("commit 300000");
    assert_eq!(end.recv_timeout(PROMPT).unwrap().unwrap(), WaitOutcome::Eof);
    assert_eq!(f.len(), Some(300_000));
    child.finish();
    // The record says committed now: the live region is gone.
    assert!(!live_of(&path).exists());
}

#[test]
fn a_killed_writer_is_taken_over_with_every_range_it_published() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let mut child = spawn_writer(&path, "auto");
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    // Pieces out of order; some before a checkpoint, some after.
    let before: [Range<u64>; 3] = [0..65_536, 300_000..301_001, 1_000_000..1_200_000];
    let after: [Range<u64>; 3] = [65_536..70_000, 2_000_000..2_000_001, 500_000..600_000];
    for r in &before {
        child.run(&format!("write {} {}", r.start, r.end - r.start));
    }
    child.run("flush");
    for r in &after {
        child.run(&format!("write {} {}", r.start, r.end - r.start));
    }
    child.kill();

    let res = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert!(!res.is_follower());
    let mut want: Vec<Range<u64>> = before.iter().chain(&after).cloned().collect();
    want.sort_by_key(|r| r.start);
    let want = merged(want);
    // What was written after the last checkpoint is not lost...
    assert_eq!(res.ranges(), want);
    // ...and every byte claimed is right.
    assert_claims_hold(&res);
    // The takeover completes the download.
    let total = 2_000_001;
    while let Some(gap) = res.next_gap(0, total) {
        res.write_at(gap.start, &pattern(gap.clone())).unwrap();
    }
    res.commit(Some(total)).unwrap();
    res.close();
    assert!(fs::read(&path).unwrap() == pattern(0..total));
}

#[test]
fn a_follower_keeps_waiting_when_its_writer_dies_and_the_next_writer_feeds_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let mut child = spawn_writer(&path, "auto");
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    child.run("write 0 1000");
    let f = follower(&path);
    let waiting = spawn_wait(&f, 1000..5000);
    until_pending(|| f.pending_waiters(), 1);
    child.run("write 1000 1000");
    child.kill();
    // Dead writer: the follower learns what it published, and keeps waiting.
    assert!(f.contains_range(0..2000));
    assert_eq!(f.status(), ResourceStatus::Active);
    assert!(matches!(waiting.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(f.pending_waiters(), 1);

    // The next writer (here, another handle of this process) takes over.
    let next = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert!(!next.is_follower());
    assert_eq!(next.ranges(), vec![0..2000]);
    next.write_at(2000, &pattern(2000..5000)).unwrap();
    assert_eq!(
        waiting.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
    assert_claims_hold(&f);
    next.commit(Some(5000)).unwrap();
    assert_eq!(f.len(), Some(5000));
}

#[test]
fn many_fragments_grow_the_region_and_followers_keep_up() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let w = writer(&path);
    let early = follower(&path);
    // 5000 disjoint ranges: far more than a new region holds.
    for i in 0..5000u64 {
        w.write_at(i * 8, &pattern(i * 8..i * 8 + 3)).unwrap();
    }
    assert_eq!(w.ranges().len(), 5000);
    let late = follower(&path);
    assert_eq!(early.ranges(), w.ranges());
    assert_eq!(late.ranges(), w.ranges());
    assert_claims_hold(&early);
    // Filling the gaps merges them all.
    for i in 0..5000u64 {
        w.write_at(i * 8 + 3, &pattern(i * 8 + 3..i * 8 + 8))
            .unwrap();
    }
    assert_eq!(w.ranges(), vec![0..40_000]);
    assert_eq!(early.ranges(), vec![0..40_000]);
    assert_claims_hold(&late);
    // The region did not grow without bound.
    let len = fs::metadata(live_of(&path)).unwrap().len();
    assert!(len <= 256 * 1024, "the region is {len} bytes");
}

#[test]
fn the_lock_moves_with_a_new_generation() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let w = open(&path, OpenMode::ReadWrite, true).unwrap();
    w.write_at(0, &pattern(0..1000)).unwrap();
    w.commit(None).unwrap();
    // A rewrite: a new file, renamed over the path at the commit.
    w.write_at(0, &pattern(0..2000)).unwrap();
    w.commit(None).unwrap();
    assert_locked(open(&path, OpenMode::ReadWrite, true), &path);
    assert_locked(open(&path, OpenMode::ReadWrite, false), &path);
    // Reactivated again, before the next rename, the lock holds as well.
    w.reactivate().unwrap();
    assert_locked(open(&path, OpenMode::ReadWrite, true), &path);
    w.close();
    let next = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert_eq!(next.len(), Some(2000));

    // A reader that opened committed in Auto becomes a writer only with the lock.
    let reader = open(&path, OpenMode::Auto, true).unwrap();
    assert!(matches!(
        reader.reactivate(),
        Err(StorageError::Locked { .. })
    ));
    next.close();
    reader.reactivate().unwrap();
    assert_locked(open(&path, OpenMode::ReadWrite, true), &path);
}

fn merged(sorted: Vec<Range<u64>>) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

fn live_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".live");
    name.into()
}

/// A write that fails (the disk is full) publishes nothing: a range is
/// published only after its bytes are in the file.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_publishes_nothing() {
    let mount = Mount::tmpfs("1m");
    let path = mount.path().join("dl.bin");
    let w = writer(&path);
    let f = follower(&path);
    w.write_at(0, &pattern(0..4096)).unwrap();
    // Larger than the file system: ENOSPC.
    assert!(w.write_at(8192, &vec![7; 4 << 20]).is_err());
    assert_eq!(f.ranges(), vec![0..4096]);
    drop(w);
    let next = open(&path, OpenMode::ReadWrite, true).unwrap();
    assert_eq!(next.ranges(), vec![0..4096]);
    assert_claims_hold(&next);
}

/// Handles opening the same new file at once in `Auto` (as the workers of a
/// cluster do): one writer, every other one a follower, none an error.
#[test]
fn simultaneous_auto_opens_of_a_new_file_give_one_writer_and_followers() {
    let dir = TempDir::new().unwrap();
    for round in 0..100 {
        let path = dir.path().join(format!("dl-{round}.bin"));
        let start = std::sync::Arc::new(std::sync::Barrier::new(4));
        let opened: Vec<MmapResource> = (0..4)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    open(&path, OpenMode::Auto, true).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let writers: Vec<_> = opened.iter().filter(|r| !r.is_follower()).collect();
        assert_eq!(writers.len(), 1, "round {round}");
        writers[0].write_at(0, &pattern(0..100)).unwrap();
        for r in &opened {
            assert_eq!(r.status(), ResourceStatus::Active, "round {round}");
            assert!(
                r.contains_range(0..100),
                "round {round}: follower {} ranges {:?} recovery {:?} again {}",
                r.is_follower(),
                r.ranges(),
                r.recovery(),
                r.contains_range(0..100)
            );
        }
    }
}

#[test]
fn a_followers_observer_hears_each_write_once() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let w = writer(&path);
    let f = follower(&path);
    let heard = std::sync::Arc::new(Recorder::default());
    f.add_observer(heard.clone());

    w.write_at(0, &pattern(0..100)).unwrap();
    assert!(f.contains_range(0..100));
    assert_eq!(heard.take(), ["write 0..100"]);

    // The writer publishes what it wrote since, or everything: either way
    // the follower tells its observer only what is new to it.
    w.write_at(100, &pattern(100..200)).unwrap();
    w.write_at(50, &pattern(50..150)).unwrap();
    assert!(f.contains_range(0..200));
    assert_eq!(heard.take(), ["write 100..200"], "heard known bytes again");

    w.commit(Some(200)).unwrap();
    assert_eq!(f.len(), Some(200));
    assert_eq!(heard.take(), ["commit 200"]);
}
