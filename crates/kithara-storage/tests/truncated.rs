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
    let ok = Command::new("truncate")
        .args(["-s", "0"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
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
