//! A file truncated under the mapping by another process: reads and writes
//! become `Io` errors (`EIO`) instead of a SIGBUS that kills the process.

mod common;

use std::{path::Path, process::Command};

use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, OpenMode, Resource, ResourceExt, StorageError,
};
use tempfile::TempDir;

fn eio(r: Result<impl std::fmt::Debug, StorageError>) {
    match r {
        Err(StorageError::Io { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(5), "{source}")
        }
        other => panic!("expected EIO, got {other:?}"),
    }
}

fn truncate_elsewhere(path: &Path) {
    truncate_to(path, 0);
}

/// Cuts `path` to `len` bytes from another process.
fn truncate_to(path: &Path, len: u64) {
    let ok = Command::new("truncate")
        .args(["-s", &len.to_string()])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

const KIB: u64 = 1024;

/// Reads `len` bytes at `offset` of the file itself (not through the resource).
fn file_bytes(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}

#[test]
fn truncation_by_another_process_is_an_error_not_a_crash() {
    // In a child process, so a regression kills the child, not the suite.
    let dir = TempDir::new().unwrap();
    common::run_child(
        "truncated_child",
        "",
        ("KITHARA_TRUNC_DIR", dir.path()),
        "TRUNCATED-OK",
    );
}

#[test]
#[ignore = "run by truncation_by_another_process_is_an_error_not_a_crash in a child process"]
fn truncated_child() {
    let Some(dir) = std::env::var_os("KITHARA_TRUNC_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    // A committed file, read through a read-only mapping.
    let done = dir.join("done.bin");
    std::fs::write(&done, vec![1u8; 1 << 20]).unwrap();
    let res: MmapResource =
        Resource::open(CancellationToken::new(), MmapOptions::new(&done)).unwrap();
    truncate_elsewhere(&done);
    let mut buf = vec![0u8; 4096];
    eio(res.read_at(512 * 1024, &mut buf));
    // The process is alive and the resource still answers.
    assert_eq!(res.len(), Some(1 << 20));

    // An active file, written through a writable mapping.
    let mut o = MmapOptions::new(dir.join("active.bin"));
    o.mode = OpenMode::ReadWrite;
    o.initial_len = Some(1 << 20);
    let active: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    active.write_at(0, &[2u8; 8192]).unwrap();
    truncate_elsewhere(&dir.join("active.bin"));
    eio(active.write_at(4096, &[3u8; 100]));
    eio(active.read_at(0, &mut buf));
    println!("TRUNCATED-OK");
}

#[test]
fn recovery_after_a_truncation_zeros_where_it_was_cut() {
    let dir = TempDir::new().unwrap();
    common::run_child(
        "recovery_child",
        "",
        ("KITHARA_TRUNC_DIR", dir.path()),
        "RECOVERED-OK",
    );
}

#[test]
#[ignore = "run by recovery_after_a_truncation_zeros_where_it_was_cut in a child process"]
fn recovery_child() {
    let Some(dir) = std::env::var_os("KITHARA_TRUNC_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let mut buf = vec![0u8; 4096];

    // A committed file, cut to a quarter: `reactivate` maps it afresh, reads
    // see the file as it now is, and the next commit restores the committed
    // length with zeros where it was cut.
    let done = dir.join("done.bin");
    std::fs::write(&done, vec![1u8; 1024 * KIB as usize]).unwrap();
    let res: MmapResource =
        Resource::open(CancellationToken::new(), MmapOptions::new(&done)).unwrap();
    truncate_to(&done, 256 * KIB);
    eio(res.read_at(512 * KIB, &mut buf));
    res.reactivate().unwrap();
    assert_eq!(res.read_at(0, &mut buf).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == 1), "the bytes before the cut");
    assert_eq!(res.read_at(512 * KIB, &mut buf).unwrap(), 0, "past the cut");
    res.commit(None).unwrap();
    assert_eq!(res.len(), Some(1024 * KIB));
    assert_eq!(std::fs::metadata(&done).unwrap().len(), 1024 * KIB);
    assert!(file_bytes(&done, 0, 256 * KIB as usize)
        .iter()
        .all(|&b| b == 1));
    assert!(file_bytes(&done, 256 * KIB, 768 * KIB as usize)
        .iter()
        .all(|&b| b == 0));
    assert_eq!(res.read_at(512 * KIB, &mut buf).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == 0), "zeros where it was cut");

    // An active file, cut while it is written: every access is EIO until
    // the commit, which maps it afresh at the committed length (here the end
    // of the highest written byte): zeros where it was cut, never a
    // committed length the file does not have.
    let mut o = MmapOptions::new(dir.join("active.bin"));
    o.initial_len = Some(1024 * KIB);
    let active: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    active.write_at(0, &vec![2u8; 1024 * KIB as usize]).unwrap();
    truncate_to(&dir.join("active.bin"), 256 * KIB);
    eio(active.write_at(512 * KIB, &[3u8; 100]));
    eio(active.read_at(0, &mut buf));
    active.commit(None).unwrap();
    assert_eq!(active.len(), Some(1024 * KIB));
    let path = dir.join("active.bin");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        1024 * KIB,
        "committed at 1 MiB, but the file is not"
    );
    assert!(file_bytes(&path, 0, 256 * KIB as usize)
        .iter()
        .all(|&b| b == 2));
    assert!(file_bytes(&path, 256 * KIB, 768 * KIB as usize)
        .iter()
        .all(|&b| b == 0));
    assert_eq!(active.read_at(1024 * KIB - 4096, &mut buf).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == 0));
    println!("RECOVERED-OK");
}
