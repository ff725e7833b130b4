//! Paths that are not what a caller expects: FIFOs, devices, kernel files,
//! sockets and odd records are refused at open, at once; an open that fails
//! halfway leaves nothing behind.
#![cfg(unix)]

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc,
    thread,
};

use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, OpenMode, Recovery, Resource, ResourceExt,
    ResourceStatus, StorageError,
};
use tempfile::TempDir;

const ENODEV: i32 = 19;

fn open_with(path: &Path, mode: OpenMode, persist: bool) -> Result<MmapResource, StorageError> {
    let mut o = MmapOptions::new(path);
    o.mode = mode;
    o.persist_ranges = persist;
    Resource::open(CancellationToken::new(), o)
}

/// Opens on another thread, so an open that blocks (a FIFO without a peer)
/// fails the test within a bound instead of hanging it.
fn open_bounded(path: &Path, mode: OpenMode, persist: bool) -> Result<MmapResource, StorageError> {
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    thread::spawn(move || {
        let _ = tx.send(open_with(&p, mode, persist));
    });
    rx.recv_timeout(common::PROMPT)
        .unwrap_or_else(|_| panic!("open of {} in {mode:?} blocked", path.display()))
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Asserts `r` is the refusal of a non-regular file: `Io`, `open`, `ENODEV`,
/// with a message that names what the path is.
fn refused(r: Result<MmapResource, StorageError>, what: &str) {
    let err = r.expect_err("a non-regular file must not open");
    assert_eq!(err.errno(), Some(ENODEV), "{err}");
    assert!(
        matches!(
            err,
            StorageError::Io {
                syscall: "open",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(what), "{msg}");
}

const MODES: [OpenMode; 3] = [OpenMode::Auto, OpenMode::ReadWrite, OpenMode::ReadOnly];

#[test]
fn a_fifo_is_refused_at_open_in_every_mode_without_blocking() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    for mode in MODES {
        for persist in [false, true] {
            refused(open_bounded(&fifo, mode, persist), "FIFO");
        }
    }
}

#[test]
fn devices_and_sockets_are_refused_at_open() {
    let dir = TempDir::new().unwrap();
    let socket = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for mode in MODES {
        refused(
            open_bounded(Path::new("/dev/zero"), mode, false),
            "character device",
        );
        refused(
            open_bounded(Path::new("/dev/null"), mode, false),
            "character device",
        );
        refused(open_bounded(&socket, mode, false), "socket");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn kernel_files_are_refused_at_open_and_never_written() {
    // procfs files say they are regular and empty; `auto` would have
    // lengthened and written one (as root, a kernel setting).
    let before = fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    for path in ["/proc/self/status", "/proc/sys/vm/swappiness"] {
        for mode in MODES {
            refused(open_bounded(Path::new(path), mode, false), "procfs");
        }
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        before
    );
    let sysfs = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
    if sysfs.exists() {
        refused(open_bounded(sysfs, OpenMode::ReadOnly, false), "sysfs");
    }
}

#[test]
fn a_fifo_symlink_or_directory_as_the_record_is_damaged_never_followed_or_blocking() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("d.bin");
    let record = dir.path().join("d.bin.ranges");
    fs::write(&data, b"some bytes").unwrap();
    // A FIFO: reading it would block until someone writes.
    mkfifo(&record);
    let res = open_bounded(&data, OpenMode::ReadWrite, true).unwrap();
    assert_eq!(res.recovery(), Recovery::Damaged);
    assert_eq!(res.next_gap(0, 10), Some(0..10));
    drop(res);
    fs::remove_file(&record).unwrap();

    // A symlink to a valid record of this very file: never followed.
    let res = open_bounded(&data, OpenMode::ReadWrite, true).unwrap();
    res.write_at(0, b"some bytes").unwrap();
    res.commit(None).unwrap();
    res.close();
    let real = dir.path().join("elsewhere.ranges");
    fs::rename(&record, &real).unwrap();
    std::os::unix::fs::symlink(&real, &record).unwrap();
    let res = open_bounded(&data, OpenMode::ReadWrite, true).unwrap();
    assert_eq!(res.recovery(), Recovery::Damaged);
    assert_eq!(res.status(), ResourceStatus::Active);
}

#[test]
fn a_record_of_another_user_claims_nothing() {
    if !common::is_root() {
        eprintln!("skipped: making a file of another user needs root");
        return;
    }
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("d.bin");
    let res = open_bounded(&data, OpenMode::Auto, true).unwrap();
    res.write_at(0, &[5u8; 100]).unwrap();
    res.commit(None).unwrap();
    res.close();
    let record = dir.path().join("d.bin.ranges");
    // The record is valid and bound to the file; only its owner changes.
    std::os::unix::fs::chown(&record, Some(65534), Some(65534)).unwrap();
    let res = open_bounded(&data, OpenMode::ReadWrite, true).unwrap();
    assert_eq!(res.recovery(), Recovery::Mismatch);
    assert_eq!(res.next_gap(0, 100), Some(0..100));
    drop(res);
    std::os::unix::fs::chown(&record, Some(0), Some(0)).unwrap();
    let res = open_bounded(&data, OpenMode::ReadWrite, true).unwrap();
    assert_eq!(res.recovery(), Recovery::None);
    assert_eq!(res.len(), Some(100));
    res.close();
    // The data file's owner wrote it (a file of another user we may read):
    // its record speaks for it.
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&record, Some(65534), Some(65534)).unwrap();
    let res = open_bounded(&data, OpenMode::ReadOnly, true).unwrap();
    assert_eq!(res.recovery(), Recovery::None);
    assert_eq!(res.len(), Some(100));
}

/// Every entry under `dir`, for "nothing was left behind".
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(entries(&p));
        }
        out.push(p);
    }
    out.sort();
    out
}

#[test]
fn an_open_that_fails_writing_its_first_record_leaves_nothing_behind() {
    let dir = TempDir::new().unwrap();
    // The record's path is taken by a directory: the rename onto it fails.
    let data = dir.path().join("a/b/c.bin");
    fs::create_dir_all(dir.path().join("a/b/c.bin.ranges")).unwrap();
    let before = entries(dir.path());
    let err = open_with(&data, OpenMode::Auto, true).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert_eq!(entries(dir.path()), before, "the open left files behind");
    // Without the record, the next open must not find a complete file.
    fs::remove_dir(dir.path().join("a/b/c.bin.ranges")).unwrap();
    let res = open_with(&data, OpenMode::Auto, false).unwrap();
    assert_eq!(res.status(), ResourceStatus::Active);
    drop(res);

    // An existing empty file it lengthened is emptied again, not removed.
    let empty = dir.path().join("empty.bin");
    fs::write(&empty, b"").unwrap();
    fs::create_dir(dir.path().join("empty.bin.ranges")).unwrap();
    open_with(&empty, OpenMode::Auto, true).unwrap_err();
    assert_eq!(fs::metadata(&empty).unwrap().len(), 0);
}

#[cfg(target_os = "linux")]
#[test]
fn an_open_that_hits_a_full_disk_on_its_first_record_leaves_nothing_behind() {
    let fs_ = common::Mount::tmpfs("256k");
    // Fill every block; a new sparse file still fits (an inode, no blocks).
    let filler = fs_.path().join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let _ = std::io::Write::write_all(&mut f, &vec![1u8; 1 << 20]);
    drop(f);
    // Missing parents: the open makes them, and must remove them again.
    let data = fs_.path().join("new/deeper/f.bin");
    let err = open_with(&data, OpenMode::Auto, true).unwrap_err();
    assert_eq!(err.errno(), Some(28), "{err}");
    assert!(!data.exists(), "the open left its data file behind");
    let leftovers: Vec<_> = entries(fs_.path())
        .into_iter()
        .filter(|p| p != &filler)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
