//! File-backed behaviour: open modes, reopening, persisted ranges, and the
//! crash-safe decorators.

mod common;

use std::{fs, ops::Range, sync::Arc, thread};

use parking_lot::Mutex;

use common::*;
use kithara_storage::{
    Atomic, AtomicChunked, AvailabilityObserver, CancellationToken, MemResource, MmapOptions,
    OpenMode, Resource, ResourceExt, ResourceStatus, StorageError, WaitOutcome,
};
use tempfile::TempDir;

#[test]
fn auto_reopens_an_existing_file_committed_and_read_only() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("existing.dat");
    mmap_at(&path).write_all(b"persisted data").unwrap();
    let res = mmap_at(&path);
    assert_eq!(
        res.status(),
        ResourceStatus::Committed {
            final_len: Some(14)
        }
    );
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out, b"persisted data");
    assert!(matches!(
        res.write_at(0, b"x"),
        Err(StorageError::Committed)
    ));
    assert_eq!(fs::read(&path).unwrap(), b"persisted data");
}

#[test]
fn auto_treats_an_empty_file_as_new() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.dat");
    fs::write(&path, b"").unwrap();
    let res = mmap_at(&path);
    assert_eq!(res.status(), ResourceStatus::Active);
    res.write_at(0, b"fresh").unwrap();
    assert!(res.contains_range(0..5));
}

#[test]
fn read_write_mode_rewrites_an_existing_file_in_place() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("index.dat");
    fs::write(&path, b"version-1").unwrap();
    let res = mmap_mode(&path, OpenMode::ReadWrite).unwrap();
    assert_eq!(
        res.status(),
        ResourceStatus::Committed { final_len: Some(9) }
    );
    // A write reactivates instead of failing.
    res.write_all(b"v2").unwrap();
    assert_eq!(res.len(), Some(2));
    assert_eq!(fs::read(&path).unwrap(), b"v2");
}

#[test]
fn read_only_mode_rejects_writes_and_missing_files_are_empty() {
    let dir = TempDir::new().unwrap();
    let missing = mmap_mode(&dir.path().join("nope.dat"), OpenMode::ReadOnly).unwrap();
    assert!(missing.is_empty());
    assert_eq!(wait(&missing, 0..1).unwrap(), WaitOutcome::Eof);
    assert!(!dir.path().join("nope.dat").exists());

    let path = dir.path().join("ro.dat");
    fs::write(&path, b"fixed").unwrap();
    let ro = mmap_mode(&path, OpenMode::ReadOnly).unwrap();
    assert!(matches!(ro.write_at(0, b"x"), Err(StorageError::ReadOnly)));
    assert!(matches!(ro.commit(None), Err(StorageError::ReadOnly)));
    assert!(matches!(ro.reactivate(), Err(StorageError::ReadOnly)));
    let mut buf = [0u8; 5];
    assert_eq!(ro.read_at(0, &mut buf).unwrap(), 5);
    assert_eq!(&buf, b"fixed");
}

#[test]
fn open_errors_name_the_syscall_and_path() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, b"x").unwrap();
    let under_a_file = file.join("child.bin");
    let err = Resource::<kithara_storage::MmapDriver>::open(
        CancellationToken::new(),
        MmapOptions::new(&under_a_file),
    )
    .unwrap_err();
    match err {
        StorageError::Io { source, path, .. } => {
            assert!(source.raw_os_error().is_some());
            assert!(path.is_some());
        }
        other => panic!("expected Io, got {other:?}"),
    }
    let err = mmap_mode(dir.path(), OpenMode::Auto).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }));
}

#[test]
fn reactivate_a_reopened_file_and_append() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("resume.dat");
    mmap_at(&path).write_all(b"part1").unwrap();
    let res = mmap_at(&path);
    res.reactivate().unwrap();
    res.write_at(5, b"+part2").unwrap();
    res.commit(None).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"part1+part2");
}

#[test]
fn persisted_ranges_survive_a_reopen_and_a_commit() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let open = || {
        let mut o = MmapOptions::new(&path);
        o.persist_ranges = true;
        Resource::<kithara_storage::MmapDriver>::open(CancellationToken::new(), o).unwrap()
    };
    {
        let res = open();
        res.write_at(0, &[1; 100]).unwrap();
        res.write_at(300, &[3; 100]).unwrap();
        res.close();
    }
    let res = open();
    assert_eq!(res.status(), ResourceStatus::Active);
    assert!(res.contains_range(0..100));
    assert!(res.contains_range(300..400));
    assert_eq!(res.next_gap(0, 400), Some(100..300));
    res.write_at(100, &[2; 200]).unwrap();
    // Dropped without close: the record is still written.
    drop(res);
    let res = open();
    assert_eq!(res.next_gap(0, 400), None);
    res.commit(None).unwrap();
    drop(res);
    let res = open();
    assert_eq!(
        res.status(),
        ResourceStatus::Committed {
            final_len: Some(400)
        }
    );
}

#[test]
fn atomic_write_all_replaces_the_whole_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("playlist.m3u8");
    let res = Atomic::new(mmap_at(&path));
    res.write_all(b"first version").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"first version");
    res.write_all_durable(b"second").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second");
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out, b"second");
    // No temp files are left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn atomic_over_memory_delegates() {
    let res = Atomic::new(MemResource::new(CancellationToken::new()));
    res.write_all(b"one").unwrap();
    res.write_all(b"two!").unwrap();
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out, b"two!");
    assert_eq!(res.path(), None);
}

#[test]
fn atomic_refuses_a_read_only_target_without_touching_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ro.txt");
    fs::write(&path, b"keep").unwrap();
    let res = Atomic::new(mmap_mode(&path, OpenMode::ReadOnly).unwrap());
    assert!(matches!(res.write_all(b"new"), Err(StorageError::ReadOnly)));
    assert_eq!(fs::read(&path).unwrap(), b"keep");
}

fn chunked(path: &std::path::Path) -> kithara_storage::StorageResult<AtomicChunked> {
    let mut o = MmapOptions::new(path);
    o.mode = OpenMode::ReadWrite;
    AtomicChunked::mmap(CancellationToken::new(), o)
}

#[test]
fn chunked_writes_land_in_tmp_and_commit_renames() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    let res = chunked(&path).unwrap();
    let tmp = dir.path().join("seg.bin.tmp");
    assert_eq!(res.tmp_path().as_deref(), Some(tmp.as_path()));
    res.write_at(4, b"5678").unwrap();
    res.write_at(0, b"1234").unwrap();
    assert!(!path.exists(), "canonical must not exist before commit");
    assert!(tmp.exists());
    res.commit(None).unwrap();
    assert!(!tmp.exists());
    assert_eq!(fs::read(&path).unwrap(), b"12345678");
    assert_eq!(
        res.status(),
        ResourceStatus::Committed { final_len: Some(8) }
    );
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out, b"12345678");
}

/// Records every event it is told of.
#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, Range<u64>)>>);

impl AvailabilityObserver for Recorder {
    fn on_write(&self, range: Range<u64>) {
        self.0.lock().push(("write", range));
    }
    fn on_commit(&self, final_len: u64) {
        self.0.lock().push(("commit", 0..final_len));
    }
}

#[test]
fn chunked_keeps_its_observer_across_the_reopen_at_commit() {
    let dir = TempDir::new().unwrap();
    let res = chunked(&dir.path().join("seg.bin")).unwrap();
    let events = Arc::new(Recorder::default());
    let id = res.add_observer(events.clone());
    res.write_at(0, b"1234").unwrap();
    res.commit(None).unwrap();
    // The commit reopened the renamed file: later writes and commits are
    // that resource's, and the observer must hear them too.
    res.reactivate().unwrap();
    res.write_at(4, b"56").unwrap();
    res.commit(None).unwrap();
    assert!(res.remove_observer(id));
    res.reactivate().unwrap();
    res.write_at(6, b"7").unwrap();
    assert_eq!(
        *events.0.lock(),
        [
            ("write", 0..4),
            ("commit", 0..4),
            ("write", 4..6),
            ("commit", 0..6)
        ]
    );
}

#[test]
fn chunked_fail_close_and_drop_remove_the_temp() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    let tmp = dir.path().join("seg.bin.tmp");
    let res = chunked(&path).unwrap();
    res.write_at(0, b"partial").unwrap();
    res.fail("aborted".into());
    assert!(!tmp.exists() && !path.exists());

    let res = chunked(&path).unwrap();
    res.write_at(0, b"partial").unwrap();
    res.close();
    assert!(!tmp.exists() && !path.exists());

    let res = chunked(&path).unwrap();
    res.write_at(0, b"partial").unwrap();
    drop(res);
    assert!(!tmp.exists() && !path.exists());
}

#[test]
fn a_second_live_writer_gets_tmp_claimed_and_a_dead_ones_temp_is_reclaimed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    let first = chunked(&path).unwrap();
    first.write_at(0, b"mine").unwrap();
    assert!(matches!(chunked(&path), Err(StorageError::TmpClaimed(_))));
    drop(first);
    // A temp left by a killed process (no lock held) is taken over and emptied.
    fs::write(dir.path().join("seg.bin.tmp"), b"stale bytes from a crash").unwrap();
    let second = chunked(&path).unwrap();
    assert_eq!(second.next_gap(0, 10), Some(0..10));
    second.write_all(b"fresh").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"fresh");
}

#[test]
fn claim_contention_from_two_threads_has_exactly_one_winner() {
    let dir = TempDir::new().unwrap();
    let path = Arc::new(dir.path().join("race.bin"));
    for _ in 0..20 {
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let contenders: Vec<_> = (0..2)
            .map(|_| {
                let path = Arc::clone(&path);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    chunked(&path)
                })
            })
            .collect();
        let results: Vec<_> = contenders.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1);
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(StorageError::TmpClaimed(_)))));
    }
}

#[test]
fn chunked_over_an_existing_committed_file_opens_it_committed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("done.bin");
    fs::write(&path, b"complete").unwrap();
    let res = AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new(&path)).unwrap();
    assert_eq!(res.tmp_path(), None);
    assert_eq!(res.len(), Some(8));
}

#[test]
fn chunked_commit_of_zero_bytes_stays_committed_and_empty() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("empty.bin");
    let res = chunked(&path).unwrap();
    res.commit(Some(0)).unwrap();
    assert_eq!(res.len(), Some(0));
    assert!(res.is_empty());
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn a_directory_path_is_eisdir_with_its_errno() {
    let dir = TempDir::new().unwrap();
    let err = mmap_mode(dir.path(), OpenMode::Auto).unwrap_err();
    assert_eq!(err.errno(), Some(21), "{err}");
    assert!(
        matches!(
            err,
            StorageError::Io {
                syscall: "open",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn chunked_fail_discards_the_temp_and_refuses_reactivation() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    let res = chunked(&path).unwrap();
    res.write_at(0, b"hello").unwrap();
    res.fail("network down".into());
    assert!(matches!(res.reactivate(), Err(StorageError::Failed(r)) if r == "network down"));
    assert!(matches!(res.commit(None), Err(StorageError::Failed(_))));
    assert!(!path.exists());
    assert!(!dir.path().join("seg.bin.tmp").exists());
}

#[test]
fn chunked_creates_missing_directories_and_writes_through_a_temp_in_auto_mode() {
    let dir = TempDir::new().unwrap();
    // Auto mode, a path under directories that do not exist yet.
    let path = dir.path().join("a/b/seg.bin");
    let res = AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new(&path)).unwrap();
    assert_eq!(res.path(), Some(path.as_path()));
    assert_eq!(res.canonical_path(), path.as_path());
    let tmp = dir.path().join("a/b/seg.bin.tmp");
    assert_eq!(res.tmp_path().as_deref(), Some(tmp.as_path()));
    res.write_at(0, b"piece").unwrap();
    assert!(
        tmp.exists() && !path.exists(),
        "written in place, not in the temp"
    );
    res.commit(None).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"piece");
    assert_eq!(res.path(), Some(path.as_path()));

    // An empty file at the path is no committed file: Auto writes through a temp too.
    let empty = dir.path().join("empty.bin");
    fs::write(&empty, b"").unwrap();
    let res = AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new(&empty)).unwrap();
    assert!(res.tmp_path().is_some(), "an empty file opened in place");
    assert_eq!(res.len(), None);
    res.write_at(0, b"x").unwrap();
    assert_eq!(
        fs::read(&empty).unwrap(),
        b"",
        "the path holds a partial file"
    );
}

#[test]
fn after_the_rename_chunked_is_a_committed_read_only_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    // Even a writer opened ReadWrite reopens the renamed file committed: a
    // later write is refused, never put in place over the canonical file.
    let res = chunked(&path).unwrap();
    res.write_at(0, b"final").unwrap();
    res.commit(None).unwrap();
    assert!(matches!(
        res.write_at(0, b"again"),
        Err(StorageError::Committed)
    ));
    assert_eq!(fs::read(&path).unwrap(), b"final");
    assert_eq!(res.tmp_path(), None);
    // Opened ReadOnly, the renamed file reopens read-only: neither writes
    // nor a reactivation reach it.
    let other = dir.path().join("ro.bin");
    let mut o = MmapOptions::new(&other);
    o.mode = OpenMode::ReadOnly;
    let ro = AtomicChunked::mmap(CancellationToken::new(), o).unwrap();
    ro.write_at(0, b"ro").unwrap();
    ro.commit(None).unwrap();
    assert!(matches!(ro.write_at(0, b"x"), Err(StorageError::ReadOnly)));
    assert!(matches!(ro.reactivate(), Err(StorageError::ReadOnly)));
    assert_eq!(fs::read(&other).unwrap(), b"ro");
}
