//! Reads, writes and the lifecycle, on both backends (ports of the seed's
//! memory and mmap tests, plus the improvements).

mod common;

use common::*;
use kithara_storage::{
    CancellationToken, MemOptions, MemResource, Resource, ResourceExt, ResourceStatus,
    StorageError, StorageResource, WaitOutcome,
};
use tempfile::TempDir;

#[test]
fn write_then_read_back_on_both_backends() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        assert_eq!(res.status(), ResourceStatus::Active, "{name}");
        assert_eq!(res.len(), None, "{name}");
        res.write_at(0, b"hello world").unwrap();
        res.commit(Some(11)).unwrap();
        let mut buf = [0u8; 11];
        assert_eq!(res.read_at(0, &mut buf).unwrap(), 11, "{name}");
        assert_eq!(&buf, b"hello world");
        assert_eq!(
            res.status(),
            ResourceStatus::Committed {
                final_len: Some(11)
            }
        );
    }
}

#[test]
fn write_all_and_read_into_round_trip() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.write_all(b"atomic data").unwrap();
        let mut out = vec![9u8; 3];
        assert_eq!(res.read_into(&mut out).unwrap(), 11, "{name}");
        assert_eq!(out, b"atomic data");
    }
}

#[test]
fn sparse_and_backward_writes_are_tracked_exactly() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.write_at(100, b"cc").unwrap();
        res.write_at(50, b"bb").unwrap();
        res.write_at(0, b"aa").unwrap();
        assert!(res.contains_range(0..2), "{name}");
        assert!(res.contains_range(50..52));
        assert!(!res.contains_range(0..3));
        assert!(!res.contains_range(49..52));
        assert_eq!(res.next_gap(0, 200), Some(2..50));
        assert_eq!(res.next_gap(52, 200), Some(52..100));
        assert_eq!(res.next_gap(100, 102), None);
        assert_eq!(res.next_gap(100, 200), Some(102..200));
        // Gaps read as zeros, and reads stop at the highest written byte.
        let mut buf = [7u8; 200];
        assert_eq!(res.read_at(0, &mut buf).unwrap(), 102);
        assert_eq!(&buf[..4], b"aa\0\0");
        assert_eq!(&buf[100..102], b"cc");
    }
}

#[test]
fn overlapping_writes_keep_the_last_bytes() {
    let res = mem();
    res.write_at(0, b"aaaaaa").unwrap();
    res.write_at(2, b"bb").unwrap();
    res.commit(None).unwrap();
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out, b"aabbaa");
}

#[test]
fn commit_none_uses_the_highest_written_byte_and_truncates_slack() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("slack.bin");
    let res = mmap_at(&path);
    // A new file starts with 64 KiB of reserved slack.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 * 1024);
    res.write_at(10, b"tail").unwrap();
    res.write_at(0, b"head").unwrap();
    res.commit(None).unwrap();
    assert_eq!(res.len(), Some(14));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 14);
    assert_eq!(wait(&res, 14..20).unwrap(), WaitOutcome::Eof);
}

#[test]
fn commit_some_truncates_and_drops_ranges_beyond() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.write_at(0, b"0123456789").unwrap();
        res.commit(Some(4)).unwrap();
        assert_eq!(res.len(), Some(4), "{name}");
        assert!(!res.contains_range(4..5), "{name}");
        let mut buf = [0u8; 10];
        assert_eq!(res.read_at(0, &mut buf).unwrap(), 4, "{name}");
        assert_eq!(res.read_at(4, &mut buf).unwrap(), 0, "{name}");
    }
}

#[test]
fn mmap_grows_on_large_writes() {
    let dir = TempDir::new().unwrap();
    let mut opts = kithara_storage::MmapOptions::new(dir.path().join("grow.bin"));
    opts.initial_len = Some(16);
    let res: kithara_storage::MmapResource =
        Resource::open(CancellationToken::new(), opts).unwrap();
    let big = vec![42u8; 1024];
    res.write_at(0, &big).unwrap();
    res.write_at(5000, &big).unwrap();
    res.commit(Some(6024)).unwrap();
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out.len(), 6024);
    assert!(out[..1024].iter().all(|&b| b == 42));
    assert!(out[1024..5000].iter().all(|&b| b == 0));
    assert!(out[5000..].iter().all(|&b| b == 42));
}

#[test]
fn writing_a_committed_resource_is_committed_error_until_reactivated() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.write_all(b"done").unwrap();
        assert!(
            matches!(res.write_at(4, b"more"), Err(StorageError::Committed)),
            "{name}"
        );
        res.reactivate().unwrap();
        assert_eq!(res.status(), ResourceStatus::Active);
        assert!(res.contains_range(0..4), "{name}: data kept");
        res.write_at(4, b"more").unwrap();
        res.commit(None).unwrap();
        let mut out = Vec::new();
        res.read_into(&mut out).unwrap();
        assert_eq!(out, b"donemore", "{name}");
    }
}

#[test]
fn fail_reports_failed_everywhere_and_reactivate_recovers() {
    let res = mem();
    res.write_at(0, b"abc").unwrap();
    res.fail("boom".into());
    assert_eq!(res.status(), ResourceStatus::Failed("boom".into()));
    let mut buf = [0u8; 3];
    assert!(matches!(res.read_at(0, &mut buf), Err(StorageError::Failed(r)) if r == "boom"));
    assert!(matches!(
        res.write_at(0, b"x"),
        Err(StorageError::Failed(_))
    ));
    assert!(matches!(wait(&res, 0..3), Err(StorageError::Failed(_))));
    assert!(matches!(res.commit(None), Err(StorageError::Failed(_))));
    res.reactivate().unwrap();
    assert_eq!(res.status(), ResourceStatus::Active);
    assert_eq!(res.read_at(0, &mut buf).unwrap(), 3);
}

#[test]
fn status_priority_failed_then_committed_then_cancelled() {
    let token = CancellationToken::new();
    let res: MemResource = Resource::open(token.clone(), MemOptions::default()).unwrap();
    res.write_all(b"x").unwrap();
    token.cancel();
    assert_eq!(
        res.status(),
        ResourceStatus::Committed { final_len: Some(1) }
    );
    res.fail("late".into());
    assert_eq!(res.status(), ResourceStatus::Failed("late".into()));

    let token = CancellationToken::new();
    let active: MemResource = Resource::open(token.clone(), MemOptions::default()).unwrap();
    token.cancel();
    assert_eq!(active.status(), ResourceStatus::Cancelled);
    assert!(matches!(
        active.write_at(0, b"x"),
        Err(StorageError::Cancelled)
    ));
    assert!(matches!(active.reactivate(), Err(StorageError::Cancelled)));
}

#[test]
fn close_releases_and_every_later_call_is_closed() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.write_at(0, b"abc").unwrap();
        res.close();
        res.close();
        assert!(res.is_closed(), "{name}");
        let mut buf = [0u8; 3];
        assert!(matches!(
            res.read_at(0, &mut buf),
            Err(StorageError::Closed)
        ));
        assert!(matches!(res.write_at(0, b"x"), Err(StorageError::Closed)));
        assert!(matches!(wait(&res, 0..1), Err(StorageError::Closed)));
        assert!(matches!(res.commit(None), Err(StorageError::Closed)));
        assert!(matches!(res.reactivate(), Err(StorageError::Closed)));
        assert!(matches!(res.flush(), Err(StorageError::Closed)));
        assert_eq!(res.status(), ResourceStatus::Closed, "{name}");
    }
}

#[test]
fn memory_write_past_its_limit_is_an_io_error_not_an_abort() {
    let mut opts = MemOptions::default();
    opts.max_len = 1024;
    let res: MemResource = Resource::open(CancellationToken::new(), opts).unwrap();
    let err = res.write_at(1 << 52, b"x").unwrap_err();
    assert!(
        matches!(err, StorageError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::FileTooLarge)
    );
    let err = res.write_at(u64::MAX, b"xy").unwrap_err();
    assert!(matches!(err, StorageError::InvalidRange { .. }));
    // Nothing was recorded.
    assert_eq!(res.next_gap(0, 10), Some(0..10));
}

#[test]
fn mem_initial_data_opens_committed() {
    let mut opts = MemOptions::default();
    opts.initial_data = Some(b"preset".to_vec());
    let res: MemResource = Resource::open(CancellationToken::new(), opts).unwrap();
    assert_eq!(
        res.status(),
        ResourceStatus::Committed { final_len: Some(6) }
    );
    assert!(!res.is_empty());
    assert_eq!(wait(&res, 0..100).unwrap(), WaitOutcome::Ready);
    assert_eq!(wait(&res, 6..7).unwrap(), WaitOutcome::Eof);
    let empty: MemResource = Resource::open(CancellationToken::new(), {
        let mut o = MemOptions::default();
        o.initial_data = Some(Vec::new());
        o
    })
    .unwrap();
    assert!(empty.is_empty());
}

#[test]
fn storage_resource_dispatches_to_either_backend() {
    let dir = TempDir::new().unwrap();
    let file = mmap_at(&dir.path().join("u.bin"));
    let unified = StorageResource::from(file.clone());
    assert!(matches!(unified, StorageResource::Mmap(_)));
    assert_eq!(unified.path(), Some(dir.path().join("u.bin").as_path()));
    unified.write_at(0, b"via enum").unwrap();
    assert!(file.contains_range(0..8));
    let mem: StorageResource = mem().into();
    assert!(matches!(mem, StorageResource::Mem(_)));
    assert_eq!(mem.path(), None);
}

#[test]
fn large_writes_go_through_the_file_and_read_back_through_the_mapping() {
    let dir = TempDir::new().unwrap();
    let res = mmap_at(&dir.path().join("large.bin"));
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    // Large pieces (written with pwrite) mixed with small ones (copied into
    // the mapping), out of order and overlapping.
    res.write_at(1 << 20, &big[1 << 20..]).unwrap();
    res.write_at(0, &big[..100]).unwrap();
    res.write_at(100, &big[100..1 << 20]).unwrap();
    res.write_at(2 << 20, &big[2 << 20..(2 << 20) + 10])
        .unwrap();
    let mut out = vec![0u8; big.len()];
    assert_eq!(res.read_at(0, &mut out).unwrap(), big.len());
    assert!(out == big);
    res.commit(None).unwrap();
    assert_eq!(std::fs::read(dir.path().join("large.bin")).unwrap(), big);
}

#[test]
fn ranges_are_merged_in_order_and_present_bytes_their_total() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        assert_eq!(res.ranges(), Vec::<std::ops::Range<u64>>::new(), "{name}");
        assert_eq!(res.present_bytes(), 0, "{name}");
        res.write_at(20, b"xyz").unwrap();
        res.write_at(0, b"abcd").unwrap();
        res.write_at(4, b"ef").unwrap();
        assert_eq!(res.ranges(), [0..6, 20..23], "{name}");
        assert_eq!(res.present_bytes(), 9, "{name}");
        // Committed: every byte below the final length is there.
        res.commit(Some(21)).unwrap();
        assert_eq!(res.ranges(), vec![0..21], "{name}");
        assert_eq!(res.present_bytes(), 21, "{name}");
    }
}

/// Records every event an observer is told of, in order.
#[derive(Default)]
struct Heard(parking_lot::Mutex<Vec<String>>);

impl kithara_storage::AvailabilityObserver for Heard {
    fn on_write(&self, range: std::ops::Range<u64>) {
        self.0.lock().push(format!("write {range:?}"));
    }
    fn on_commit(&self, final_len: u64) {
        self.0.lock().push(format!("commit {final_len}"));
    }
}

#[test]
fn every_observer_hears_every_write_and_commit_until_removed() {
    let first = std::sync::Arc::new(Heard::default());
    let res: MemResource = Resource::open_with_observer(
        CancellationToken::new(),
        MemOptions::default(),
        Some(first.clone()),
    )
    .unwrap();
    res.write_at(0, b"abc").unwrap();
    res.write_at(10, b"de").unwrap();
    res.commit(None).unwrap();
    assert_eq!(*first.0.lock(), ["write 0..3", "write 10..12", "commit 12"]);
    // A second one hears what follows, beside the first.
    let second = std::sync::Arc::new(Heard::default());
    let id = res.add_observer(second.clone());
    res.reactivate().unwrap();
    res.write_at(12, b"f").unwrap();
    res.replace_all(b"whole", false).unwrap();
    assert_eq!(*second.0.lock(), ["write 12..13", "commit 5"]);
    assert_eq!(first.0.lock().len(), 5);
    // Removed: it hears nothing more; removing it twice is a no-op.
    assert!(res.remove_observer(id));
    assert!(!res.remove_observer(id));
    res.reactivate().unwrap();
    res.write_at(5, b"g").unwrap();
    assert_eq!(second.0.lock().len(), 2);
    assert_eq!(first.0.lock().last().unwrap(), "write 5..6");
}

#[test]
fn clones_are_one_resource_with_one_token() {
    let token = CancellationToken::new();
    let res: MemResource = Resource::open(token.child_token(), MemOptions::default()).unwrap();
    let clone = res.clone();
    assert!(res.ptr_eq(&clone));
    assert!(!res.ptr_eq(&mem()));
    // The token it reports is the one that cancels it.
    assert!(!res.cancel_token().is_cancelled());
    res.cancel_token().cancel();
    assert_eq!(clone.status(), ResourceStatus::Cancelled);
    assert!(
        !token.is_cancelled(),
        "a child token does not cancel its parent"
    );
    // Debug shows the state, and how many waits are pending.
    let shown = format!("{res:?}");
    assert!(
        shown.starts_with("Resource {") && shown.contains("waiters: 0"),
        "{shown}"
    );
}
