//! `AtomicChunked` against odd callers and crashes: `close` racing a
//! `commit` from another thread, a rewrite after `reactivate` killed midway,
//! and the claim of `<path>.tmp` (what is reclaimed, what is refused).

mod common;

use std::{
    fs,
    path::Path,
    sync::{Arc, Barrier},
    thread,
};

use kithara_storage::{
    AtomicChunked, CancellationToken, MmapOptions, OpenMode, ResourceExt, StorageError,
};
use tempfile::TempDir;

fn chunked(path: &Path) -> AtomicChunked {
    let mut o = MmapOptions::new(path);
    o.mode = OpenMode::ReadWrite;
    AtomicChunked::mmap(CancellationToken::new(), o).unwrap()
}

#[test]
fn close_racing_a_commit_never_brings_the_resource_back() {
    // On a real disk the commit's fsync is slow, so the close lands in the
    // middle of the commit almost every time.
    let dir = TempDir::new().unwrap();
    for i in 0..150 {
        let path = dir.path().join(format!("f{i}.bin"));
        let res = Arc::new(chunked(&path));
        res.write_at(0, b"some bytes").unwrap();
        let start = Arc::new(Barrier::new(2));
        let committer = {
            let (res, start) = (Arc::clone(&res), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                res.commit(None)
            })
        };
        start.wait();
        res.close();
        let committed = committer.join().unwrap();
        assert!(
            res.is_closed(),
            "round {i}: close() returned, then the commit ({committed:?}) reopened the resource"
        );
        assert!(matches!(res.write_at(0, b"x"), Err(StorageError::Closed)));
        assert!(res.current().is_closed());
        // Whichever came first, no temp is left and the canonical file, if
        // any, is complete.
        assert!(!dir.path().join(format!("f{i}.bin.tmp")).exists());
        if let Ok(bytes) = fs::read(&path) {
            assert_eq!(bytes, b"some bytes");
        }
    }
}

#[test]
fn a_commit_after_close_is_closed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.bin");
    let res = chunked(&path);
    res.write_at(0, b"abc").unwrap();
    res.close();
    assert!(matches!(res.commit(None), Err(StorageError::Closed)));
    assert!(!path.exists());
}

#[cfg(unix)]
#[test]
fn reactivate_rewrites_beside_the_canonical_file_never_in_place() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.bin");
    let res = chunked(&path);
    res.write_at(0, &[1u8; 1 << 20]).unwrap();
    res.commit(None).unwrap();
    let inode = common::inode(&path);
    res.reactivate().unwrap();
    res.write_at(0, &[2u8; 512 * 1024]).unwrap();
    // Mid-rewrite: the canonical file is the first version, whole.
    assert!(
        fs::read(&path).unwrap() == vec![1u8; 1 << 20],
        "the canonical file changed mid-rewrite"
    );
    assert_eq!(common::inode(&path), inode);
    res.write_at(512 * 1024, &[2u8; 512 * 1024]).unwrap();
    res.commit(None).unwrap();
    assert!(fs::read(&path).unwrap() == vec![2u8; 1 << 20]);
    assert_ne!(common::inode(&path), inode, "rewritten in place");
}

#[test]
fn a_rewrite_killed_midway_leaves_the_committed_version_whole() {
    // The child commits version 1, reactivates, writes half of version 2
    // and is killed (SIGKILL: no close, no drop).
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.bin");
    common::run_child_killed(
        "rewrite_then_die_child",
        ("KITHARA_REWRITE_PATH", &path),
        "HALF-WRITTEN",
    );
    assert!(
        fs::read(&path).unwrap() == vec![1u8; 1 << 20],
        "the kill left a mix of versions at the canonical path"
    );
    // The next writer starts afresh.
    let res = chunked(&path);
    res.write_at(0, b"v3").unwrap();
    res.commit(None).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"v3");
}

#[test]
#[ignore = "run by a_rewrite_killed_midway_leaves_the_committed_version_whole, and killed"]
fn rewrite_then_die_child() {
    let Some(path) = std::env::var_os("KITHARA_REWRITE_PATH") else {
        return;
    };
    let res = chunked(Path::new(&path));
    res.write_at(0, &[1u8; 1 << 20]).unwrap();
    res.commit(None).unwrap();
    res.reactivate().unwrap();
    // Pieces of version 2, from the end (a writer fills in any order).
    res.write_at(512 * 1024, &[2u8; 512 * 1024]).unwrap();
    res.write_at(0, &[2u8; 4096]).unwrap();
    println!("HALF-WRITTEN");
    loop {
        thread::park();
    }
}

#[cfg(unix)]
#[test]
fn a_dead_writers_temp_is_reclaimed_and_never_reused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.bin");
    let tmp = dir.path().join("f.bin.tmp");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A file of this process, for the mode the umask gives.
    let plain = dir.path().join("plain");
    fs::write(&plain, b"").unwrap();
    fs::write(&tmp, b"stale bytes of a killed writer").unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).unwrap();
    let born = fs::metadata(&tmp).unwrap().created().ok();
    thread::sleep(std::time::Duration::from_millis(20));
    let res = chunked(&path);
    // A new file, not the stale one emptied: the umask's mode, a later birth.
    assert_eq!(mode(&tmp), mode(&plain), "the stale temp was reused");
    if let Some(born) = born {
        assert!(fs::metadata(&tmp).unwrap().created().unwrap() > born);
    }
    assert_eq!(fs::metadata(&tmp).unwrap().len(), 64 * 1024);
    res.write_at(0, b"fresh").unwrap();
    res.commit(None).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"fresh");
}

#[cfg(unix)]
#[test]
fn a_live_writers_temp_and_anything_not_a_temp_of_ours_are_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.bin");
    let tmp = dir.path().join("f.bin.tmp");
    let live = chunked(&path);
    let claimed = |r: Result<AtomicChunked, StorageError>| {
        assert!(
            matches!(&r, Err(StorageError::TmpClaimed(p)) if p == &tmp),
            "{r:?}"
        );
    };
    let mut o = MmapOptions::new(&path);
    o.mode = OpenMode::ReadWrite;
    claimed(AtomicChunked::mmap(CancellationToken::new(), o.clone()));
    live.close();
    // A symlink (to a file of ours, even) and a directory are not temps.
    let victim = dir.path().join("victim");
    fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, &tmp).unwrap();
    claimed(AtomicChunked::mmap(CancellationToken::new(), o.clone()));
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
    fs::remove_file(&tmp).unwrap();
    fs::create_dir(&tmp).unwrap();
    claimed(AtomicChunked::mmap(CancellationToken::new(), o.clone()));
    fs::remove_dir(&tmp).unwrap();
    // A second name of one of our files.
    fs::hard_link(&victim, &tmp).unwrap();
    claimed(AtomicChunked::mmap(CancellationToken::new(), o));
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
}

#[cfg(unix)]
#[test]
fn a_fifo_or_device_as_the_canonical_path_is_refused() {
    let err =
        AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new("/dev/null")).unwrap_err();
    assert_eq!(err.errno(), Some(19), "{err}");
}

#[test]
fn a_temp_that_cannot_be_created_is_an_io_error_not_a_claim() {
    // The canonical name fits, `<name>.tmp` is too long for the file system:
    // the create fails for a reason of its own and says so (ENAMETOOLONG),
    // instead of being taken for someone else's temp.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a".repeat(253));
    let err = AtomicChunked::mmap(CancellationToken::new(), MmapOptions::new(&path)).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert_eq!(err.system_code(), Some("ENAMETOOLONG"), "{err:?}");
}
