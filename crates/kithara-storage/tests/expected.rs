//! What a resource knows before its commit: the expected length (waits past
//! it are `Eof`, writes past it and incomplete commits are refused), the
//! metadata kept with the range record, and the observers (every one of them
//! gets every event, including a failure and the close).

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use common::*;
use kithara_storage::{
    AtomicChunked, CancellationToken, MmapOptions, MmapResource, Resource, ResourceExt,
    StorageError, WaitOutcome,
};
use tempfile::TempDir;

fn persisted(path: &Path) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.persist_ranges = true;
    Resource::open(CancellationToken::new(), o).unwrap()
}

#[test]
fn waits_past_the_expected_length_are_eof_and_across_it_ready_below_it() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.set_expected_len(Some(100)).unwrap();
        assert_eq!(res.len(), None, "{name}: not committed");
        assert_eq!(res.known_len(), Some(100), "{name}");
        assert_eq!(
            res.wait_range(100..200).unwrap(),
            WaitOutcome::Eof,
            "{name}"
        );
        assert_eq!(
            res.wait_range(150..160).unwrap(),
            WaitOutcome::Eof,
            "{name}"
        );
        // Across the end: waits for the part below it only.
        let across = spawn_wait(&res, 90..200);
        let below = spawn_wait(&res, 0..10);
        until_pending(|| pending(&res), 2);
        res.write_at(90, &[1; 10]).unwrap();
        assert_eq!(
            across.recv_timeout(PROMPT).unwrap().unwrap(),
            WaitOutcome::Ready,
            "{name}"
        );
        assert!(below.try_recv().is_err(), "{name}: 0..10 is not written");
        // Asked once the part below the end is there: ready at once.
        assert_eq!(
            res.wait_range_timeout(95..300, std::time::Duration::ZERO)
                .unwrap(),
            WaitOutcome::Ready,
            "{name}"
        );
        // Nothing is missing past the end.
        assert_eq!(res.next_gap(0, u64::MAX), Some(0..90), "{name}");
        assert_eq!(res.next_gap(100, u64::MAX), None, "{name}");
        res.write_at(0, &[2; 90]).unwrap();
        assert_eq!(
            below.recv_timeout(PROMPT).unwrap().unwrap(),
            WaitOutcome::Ready
        );
    }
}

/// Pending waiters of either backend (through the enum's variants).
fn pending(res: &kithara_storage::StorageResource) -> usize {
    match res {
        kithara_storage::StorageResource::Mmap(r) => r.pending_waiters(),
        kithara_storage::StorageResource::Mem(r) => r.pending_waiters(),
    }
}

#[test]
fn setting_the_expected_length_decides_the_waiters_it_concerns() {
    let res = mem();
    res.write_at(0, &[1; 50]).unwrap();
    let past = spawn_wait(&res, 100..120);
    let across = spawn_wait(&res, 40..120);
    let inside = spawn_wait(&res, 60..70);
    until_pending(|| res.pending_waiters(), 3);
    res.set_expected_len(Some(50)).unwrap();
    assert_eq!(
        past.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Eof
    );
    assert_eq!(
        across.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
    assert_eq!(
        inside.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Eof
    );

    // One across it with bytes missing below it keeps waiting for them.
    let res = mem();
    res.write_at(0, &[1; 50]).unwrap();
    let gap = spawn_wait(&res, 40..120);
    until_pending(|| res.pending_waiters(), 1);
    res.set_expected_len(Some(100)).unwrap();
    assert_eq!(res.pending_waiters(), 1, "decided with 50..100 missing");
    res.write_at(50, &[1; 50]).unwrap();
    assert_eq!(
        gap.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );

    // A waiter clamped to one expected length waits for its whole range
    // again once the expected length is cleared.
    let res = mem();
    res.set_expected_len(Some(10)).unwrap();
    let waiter = spawn_wait(&res, 5..20);
    until_pending(|| res.pending_waiters(), 1);
    res.set_expected_len(None).unwrap();
    res.write_at(0, &[1; 10]).unwrap();
    assert!(
        waiter.recv_timeout(Duration::from_millis(50)).is_err(),
        "woken for 5..10 of 5..20"
    );
    res.write_at(10, &[1; 10]).unwrap();
    assert_eq!(
        waiter.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn writes_past_it_and_incomplete_or_other_length_commits_are_refused() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        res.set_expected_len(Some(10)).unwrap();
        assert!(
            matches!(
                res.write_at(8, b"abc"),
                Err(StorageError::LengthMismatch {
                    expected: 10,
                    got: 11
                })
            ),
            "{name}"
        );
        res.write_at(0, b"abcd").unwrap();
        assert!(
            matches!(
                res.commit(None),
                Err(StorageError::Incomplete { start: 4, end: 10 })
            ),
            "{name}"
        );
        assert!(
            matches!(
                res.commit(Some(4)),
                Err(StorageError::LengthMismatch {
                    expected: 10,
                    got: 4
                })
            ),
            "{name}"
        );
        // Refused without a trace: still active, waits still pending.
        assert_eq!(res.len(), None, "{name}");
        res.write_at(4, b"efghij").unwrap();
        // The expected length itself, given explicitly, is the one that fits.
        res.commit(Some(10)).unwrap();
        assert_eq!(res.len(), Some(10), "{name}");
        let mut buf = [0; 10];
        res.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"abcdefghij");
        // A committed resource knows its length: only that one fits.
        res.set_expected_len(Some(10)).unwrap();
        assert!(matches!(
            res.set_expected_len(Some(11)),
            Err(StorageError::LengthMismatch { .. })
        ));
    }
    // A whole new content must have the expected length too.
    let res = mem();
    res.set_expected_len(Some(3)).unwrap();
    assert!(matches!(
        res.replace_all(b"abcd", false),
        Err(StorageError::LengthMismatch {
            expected: 3,
            got: 4
        })
    ));
    res.replace_all(b"abc", false).unwrap();
    assert_eq!(res.len(), Some(3));
    res.close();
    // An expected length below bytes already written contradicts them.
    let res = mem();
    res.write_at(0, &[0; 20]).unwrap();
    assert!(matches!(
        res.set_expected_len(Some(19)),
        Err(StorageError::LengthMismatch {
            expected: 20,
            got: 19
        })
    ));
    assert_eq!(res.expected_len(), None);
    res.close();
    assert!(matches!(
        res.set_expected_len(Some(30)),
        Err(StorageError::Closed)
    ));
}

#[test]
fn expected_length_and_metadata_persist_with_the_record() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a.bin");
    let res = persisted(&path);
    res.set_expected_len(Some(5000)).unwrap();
    res.update_metadata(vec![
        ("etag".into(), Some("\"v1\"".into())),
        ("url".into(), Some("http://origin/a.bin".into())),
    ])
    .unwrap();
    res.write_at(0, &[1; 1000]).unwrap();
    res.close();

    let res = persisted(&path);
    assert_eq!(res.expected_len(), Some(5000));
    assert_eq!(res.len(), None);
    assert_eq!(res.wait_range(5000..5001).unwrap(), WaitOutcome::Eof);
    let meta = res.metadata();
    assert_eq!(meta.get("etag").map(String::as_str), Some("\"v1\""));
    assert_eq!(
        meta.get("url").map(String::as_str),
        Some("http://origin/a.bin")
    );
    assert_eq!(meta.len(), 2, "the expected length is not user metadata");
    // Removing an entry is recorded too; a flush records at once.
    res.update_metadata(vec![("url".into(), None)]).unwrap();
    res.flush().unwrap();
    drop(res);
    let res = persisted(&path);
    assert_eq!(res.metadata().keys().collect::<Vec<_>>(), ["etag"]);
    // Committed, it keeps both; the reserved key is not the user's to set.
    res.write_at(1000, &[2; 4000]).unwrap();
    res.commit(None).unwrap();
    assert!(matches!(
        res.update_metadata(vec![("kithara.expected_len".into(), Some("1".into()))]),
        Err(StorageError::Unsupported(_))
    ));
    res.close();
    let res = persisted(&path);
    assert_eq!(res.len(), Some(5000));
    assert_eq!(res.metadata().len(), 1);
}

#[test]
fn metadata_is_bounded_and_held_in_memory_without_a_record() {
    let res = mem();
    res.update_metadata(vec![("user".into(), Some("{}".into()))])
        .unwrap();
    assert_eq!(res.metadata().get("user").map(String::as_str), Some("{}"));
    // Up to 64 KiB of keys and values in all is accepted, exactly.
    let fits = "x".repeat(64 * 1024 - "user{}".len() - "fits".len());
    res.update_metadata(vec![("fits".into(), Some(fits))])
        .unwrap();
    res.update_metadata(vec![("fits".into(), None)]).unwrap();
    let big = "x".repeat(64 * 1024);
    assert!(matches!(
        res.update_metadata(vec![("big".into(), Some(big))]),
        Err(StorageError::Unsupported(_))
    ));
    assert_eq!(res.metadata().len(), 1, "a refused update changes nothing");
    res.close();
    assert!(matches!(
        res.update_metadata(vec![]),
        Err(StorageError::Closed)
    ));
}

#[test]
fn every_observer_gets_every_event_until_it_is_removed() {
    let dir = TempDir::new().unwrap();
    for (name, res) in both_backends(dir.path()) {
        let (a, b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        res.add_observer(a.clone());
        let id_b = res.add_observer(b.clone());
        // From another thread too.
        let r = res.clone();
        std::thread::spawn(move || r.write_at(0, b"ab").unwrap())
            .join()
            .unwrap();
        res.fail("origin went away".into());
        res.reactivate().unwrap();
        res.commit(Some(2)).unwrap();
        let expected = ["write 0..2", "fail origin went away", "commit 2"];
        assert_eq!(a.take(), expected, "{name}");
        assert_eq!(b.take(), expected, "{name}");
        assert!(res.remove_observer(id_b));
        assert!(!res.remove_observer(id_b), "{name}: removed twice");
        res.close();
        assert_eq!(a.take(), ["close"], "{name}");
        assert!(b.take().is_empty(), "{name}: a removed observer heard");
    }
}

#[test]
fn chunked_observers_hear_the_close_and_keep_metadata_across_the_rename() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    let res = AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new(&path)).unwrap();
    let events = Arc::new(Recorder::default());
    res.add_observer(events.clone());
    res.set_expected_len(Some(4)).unwrap();
    res.update_metadata(vec![("etag".into(), Some("x".into()))])
        .unwrap();
    res.write_at(0, b"1234").unwrap();
    res.commit(None).unwrap();
    assert_eq!(res.metadata().get("etag").map(String::as_str), Some("x"));
    assert_eq!(res.expected_len(), Some(4));
    res.close();
    assert_eq!(events.take(), ["write 0..4", "commit 4", "close"]);
    // A failure before the commit is heard too (the temp is discarded).
    let other = dir.path().join("other.bin");
    let res = AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new(&other)).unwrap();
    let shown = format!("{res:?}");
    assert!(
        shown.starts_with("AtomicChunked")
            && shown.contains("other.bin")
            && shown.contains("claimed: true"),
        "{shown}"
    );
    res.add_observer(events.clone());
    res.write_at(0, b"1").unwrap();
    res.fail("origin went away".into());
    res.close();
    assert_eq!(
        events.take(),
        ["write 0..1", "fail origin went away", "close"]
    );
}
