//! The range record claims a range only where its bytes are, in the file now
//! at the path: damaged, missing or foreign records claim nothing (and the
//! resource says why), and a handle whose file was replaced never writes the
//! record of its successor.

mod common;

use std::{fs, path::Path, time::Duration};

use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, OpenMode, Recovery, Resource, ResourceExt,
    ResourceStatus, StorageError,
};
use tempfile::TempDir;

const K512: u64 = 512 * 1024;

fn persisted(path: &Path) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.persist_ranges = true;
    Resource::open(CancellationToken::new(), o).unwrap()
}

fn record_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ranges");
    name.into()
}

/// Deletes the live region beside `path`, as a reboot invalidates it: the
/// tests here are about what the record alone proves (the region, which
/// only holds within one boot, is tested in `processes.rs`).
fn forget_live(path: &Path) {
    let mut name = path.as_os_str().to_owned();
    name.push(".live");
    fs::remove_file(std::path::PathBuf::from(name)).unwrap();
}

/// A partial download: two pieces written, then closed.
fn partial(path: &Path) {
    let res = persisted(path);
    res.write_at(0, &[1; 1000]).unwrap();
    res.write_at(5000, &[2; 1000]).unwrap();
    res.close();
}

/// Opens `path` and checks it claims nothing, for the reason `why`.
fn claims_nothing(path: &Path, why: Recovery) {
    let res = persisted(path);
    assert_eq!(res.status(), ResourceStatus::Active, "{why:?}");
    assert_eq!(res.recovery(), why);
    assert_eq!(res.len(), None);
    assert!(!res.contains_range(0..1), "{why:?}: a byte is claimed");
    assert!(
        !res.contains_range(5000..5001),
        "{why:?}: a byte is claimed"
    );
    assert_eq!(res.next_gap(0, 6000), Some(0..6000));
    // A reader waits for the download instead of reading zeros.
    let waited = res.wait_range_timeout(0..10, Duration::from_millis(20));
    assert!(
        matches!(waited, Err(StorageError::Timeout)),
        "{why:?}: {waited:?}"
    );
    // And the download resumes: written bytes are claimed again.
    res.write_at(0, &[3; 10]).unwrap();
    assert!(res.contains_range(0..10));
}

#[test]
fn a_damaged_record_claims_nothing_and_says_so() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    partial(&path);
    let good = fs::read(record_of(&path)).unwrap();
    assert!(good.len() > 16);
    let flip = |at: usize| {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        bad
    };
    let mid = good.len() / 2;
    let damages: Vec<(&str, Vec<u8>)> = vec![
        ("a flipped byte at the start", flip(0)),
        ("a flipped byte in the middle", flip(mid)),
        ("a flipped byte at the end", flip(good.len() - 1)),
        ("empty", Vec::new()),
        ("truncated", good[..mid].to_vec()),
        ("one byte short", good[..good.len() - 1].to_vec()),
        (
            "text",
            b"kithara-ranges 1\nactive\n0 6000\nsum 0\n".to_vec(),
        ),
    ];
    forget_live(&path);
    for (what, bytes) in damages {
        fs::write(record_of(&path), &bytes).unwrap();
        let res = persisted(&path);
        assert_eq!(res.recovery(), Recovery::Damaged, "{what}");
        assert!(!res.contains_range(0..1), "{what}");
        drop(res);
        forget_live(&path);
        fs::write(record_of(&path), &bytes).unwrap();
        claims_nothing(&path, Recovery::Damaged);
        forget_live(&path);
    }
    // The good record still works.
    fs::write(record_of(&path), &good).unwrap();
    let res = persisted(&path);
    assert_eq!(res.recovery(), Recovery::None);
    assert!(res.contains_range(0..1000) && res.contains_range(5000..6000));
}

#[test]
fn a_committed_file_with_a_damaged_record_is_not_taken_for_complete() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let res = persisted(&path);
    res.write_at(0, &[1; 100]).unwrap();
    res.write_at(200, &[1; 100]).unwrap();
    res.commit(None).unwrap();
    res.close();
    assert_eq!(persisted(&path).len(), Some(300));
    let mut bytes = fs::read(record_of(&path)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(record_of(&path), bytes).unwrap();
    let res = persisted(&path);
    assert_eq!(res.status(), ResourceStatus::Active);
    assert_eq!(res.recovery(), Recovery::Damaged);
    assert!(!res.contains_range(0..1));
}

#[test]
fn another_files_record_claims_nothing() {
    let dir = TempDir::new().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    partial(&a);
    partial(&b);
    // b's data with a's record: whole and valid, but not b's.
    fs::copy(record_of(&a), record_of(&b)).unwrap();
    forget_live(&b);
    claims_nothing(&b, Recovery::Mismatch);

    // The same file name, a new file (the origin changed; the cache evicted
    // the data but not the record): the old record is not the new file's.
    let c = dir.path().join("c.bin");
    partial(&c);
    let old_record = fs::read(record_of(&c)).unwrap();
    fs::remove_file(&c).unwrap();
    fs::write(&c, vec![9u8; 8000]).unwrap();
    fs::write(record_of(&c), old_record).unwrap();
    claims_nothing(&c, Recovery::Mismatch);
}

#[test]
fn a_non_empty_file_without_a_record_claims_nothing_with_persisted_ranges() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    partial(&path);
    fs::remove_file(record_of(&path)).unwrap();
    forget_live(&path);
    claims_nothing(&path, Recovery::Missing);
    // Without persisted ranges the seed's rule stays: complete.
    fs::remove_file(record_of(&path)).ok();
    let seed: MmapResource =
        Resource::open(CancellationToken::new(), MmapOptions::new(&path)).unwrap();
    assert!(matches!(seed.status(), ResourceStatus::Committed { .. }));
    assert_eq!(seed.recovery(), Recovery::None);
}

#[test]
fn read_only_with_persisted_ranges_claims_only_what_the_record_proves() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    partial(&path);
    let open_ro = || {
        let mut o = MmapOptions::new(&path);
        o.persist_ranges = true;
        o.mode = OpenMode::ReadOnly;
        Resource::<kithara_storage::MmapDriver>::open(CancellationToken::new(), o).unwrap()
    };
    let ro = open_ro();
    assert_eq!(ro.status(), ResourceStatus::Active);
    assert!(ro.contains_range(0..1000));
    assert!(!ro.contains_range(1000..1001));
    assert!(matches!(ro.write_at(0, b"x"), Err(StorageError::ReadOnly)));
    drop(ro);
    forget_live(&path);
    fs::write(record_of(&path), b"").unwrap();
    let ro = open_ro();
    assert_eq!(ro.recovery(), Recovery::Damaged);
    assert!(!ro.contains_range(0..1));
}

/// The sequence from the issue: a cache evicts a file while an old handle
/// is still open, downloads it again, and the old handle closes last.
fn stale_handle_sequence(end_old: impl FnOnce(MmapResource)) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("seg.bin");
    let old = persisted(&path);
    old.write_at(0, &vec![1; K512 as usize]).unwrap();
    // Not yet recorded: the old handle still has a record to write.
    fs::remove_file(&path).unwrap();
    fs::remove_file(record_of(&path)).unwrap();

    let new = persisted(&path);
    new.write_at(K512, &vec![2; K512 as usize]).unwrap();
    new.close();

    end_old(old);
    let res = persisted(&path);
    assert_eq!(res.recovery(), Recovery::None);
    assert!(
        !res.contains_range(0..1),
        "the old handle's bytes are claimed in the new file"
    );
    assert!(
        res.contains_range(K512..2 * K512),
        "the new file's record was lost"
    );
    assert_eq!(res.next_gap(0, 2 * K512), Some(0..K512));
}

#[test]
fn a_stale_handle_never_writes_its_successors_record_on_close() {
    stale_handle_sequence(|old| old.close());
}

#[test]
fn a_stale_handle_never_writes_its_successors_record_on_drop() {
    stale_handle_sequence(drop);
}

#[test]
fn a_stale_handle_never_writes_its_successors_record_on_flush_or_commit() {
    stale_handle_sequence(|old| {
        old.write_at(K512, &[7; 100]).unwrap();
        old.flush().unwrap();
        old.commit(None).unwrap();
        old.close();
    });
}

#[cfg(unix)]
#[test]
fn a_planted_symlink_at_a_temp_name_is_never_followed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    // The name the seed used for every record temp.
    std::os::unix::fs::symlink(&victim, dir.path().join("dl.bin.ranges.tmp")).unwrap();
    partial(&path);
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    let res = persisted(&path);
    assert!(res.contains_range(0..1000));
    // No temp is left behind: only the data, the record, the live region of
    // the download in progress, and what we planted.
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dl.bin",
            "dl.bin.live",
            "dl.bin.ranges",
            "dl.bin.ranges.tmp",
            "victim"
        ]
    );
}

#[cfg(unix)]
#[test]
fn records_follow_the_umask_like_the_data_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    partial(&path);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&record_of(&path)), mode(&path));
}

/// The inode of `path` (a record is replaced through a rename: a new inode).
#[cfg(unix)]
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().ino()
}

#[cfg(unix)]
#[test]
fn handles_with_nothing_to_record_write_no_record() {
    let dir = TempDir::new().unwrap();
    // A missing file opened read-only: nothing at the path, then or after.
    let missing = dir.path().join("missing.bin");
    let mut o = MmapOptions::new(&missing);
    o.persist_ranges = true;
    o.mode = OpenMode::ReadOnly;
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    res.flush().unwrap();
    drop(res);
    assert!(
        !record_of(&missing).exists(),
        "a record for a file that does not exist"
    );
    assert!(!missing.exists());

    // A committed download reopened and dropped (or closed) without a
    // change keeps the record it had: the same file, never rewritten.
    let done = dir.path().join("done.bin");
    let res = persisted(&done);
    res.write_at(0, &[1; 1000]).unwrap();
    res.commit(None).unwrap();
    res.close();
    let before = inode(&record_of(&done));
    for close in [false, true] {
        let res = persisted(&done);
        assert_eq!(res.len(), Some(1000));
        if close {
            res.close();
        } else {
            drop(res);
        }
        assert_eq!(inode(&record_of(&done)), before, "close={close}: rewritten");
    }
    // An active download reopened and dropped unchanged: the same.
    let partial_path = dir.path().join("partial.bin");
    partial(&partial_path);
    let before = inode(&record_of(&partial_path));
    drop(persisted(&partial_path));
    assert_eq!(inode(&record_of(&partial_path)), before);
}

#[test]
fn an_unreadable_record_is_damaged_not_missing() {
    // Something is at the record's path but cannot be read as one (here a
    // directory): that is damage, not the absence of a record.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    partial(&path);
    fs::remove_file(record_of(&path)).unwrap();
    fs::create_dir(record_of(&path)).unwrap();
    let res = persisted(&path);
    assert_eq!(res.recovery(), Recovery::Damaged);
    assert!(!res.contains_range(0..1));
    res.close();
    fs::remove_dir(record_of(&path)).unwrap();
    // And with nothing there, it is missing.
    assert_eq!(persisted(&path).recovery(), Recovery::Missing);
}
