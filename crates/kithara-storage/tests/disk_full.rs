//! A full disk or a file-size limit is an `Io` error at write time, never a
//! SIGBUS, and the bytes written before stay readable.

mod common;

use std::path::Path;

use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, Resource, ResourceExt, StorageError,
};
use tempfile::TempDir;

fn open(path: &Path) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.initial_len = Some(4096);
    Resource::open(CancellationToken::new(), o).unwrap()
}

/// Fills the storage under `path` until a write fails; checks what a user relies on.
fn fill_until_refused(path: &Path) -> StorageError {
    let res = open(path);
    let chunk = vec![7u8; 64 * 1024];
    let mut offset = 0u64;
    let err = loop {
        match res.write_at(offset, &chunk) {
            Ok(()) => offset += chunk.len() as u64,
            Err(e) => break e,
        }
        assert!(offset < 1 << 30, "the limit never hit");
    };
    // Everything written before is intact and readable; the resource lives on.
    assert!(offset > 0);
    assert!(res.contains_range(0..offset));
    let mut buf = vec![0u8; offset as usize];
    assert_eq!(res.read_at(0, &mut buf).unwrap(), offset as usize);
    assert!(buf.iter().all(|&b| b == 7));
    res.commit(None).unwrap();
    assert_eq!(res.len(), Some(offset));
    err
}

fn errno(e: &StorageError) -> Option<i32> {
    match e {
        StorageError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

#[cfg(target_os = "linux")]
#[test]
fn full_tmpfs_is_enospc_not_sigbus() {
    // Fails (does not skip) where mounting is refused.
    let fs = common::Mount::tmpfs("1m");
    let err = fill_until_refused(&fs.path().join("big.bin"));
    assert_eq!(errno(&err), Some(28), "expected ENOSPC, got {err:?}");
}

#[test]
fn file_size_limit_is_efbig_not_a_signal() {
    // Under `ulimit -f` with SIGXFSZ ignored, as a process that sets
    // RLIMIT_FSIZE would run.
    let dir = TempDir::new().unwrap();
    common::run_child(
        "fsize_child",
        "ulimit -f 2048; trap '' XFSZ;",
        ("KITHARA_FSIZE_DIR", dir.path()),
        "EFBIG-OK",
    );
}

#[test]
#[ignore = "run by file_size_limit_is_efbig_not_a_signal in a child process"]
fn fsize_child() {
    let Some(dir) = std::env::var_os("KITHARA_FSIZE_DIR") else {
        return;
    };
    let err = fill_until_refused(&Path::new(&dir).join("limited.bin"));
    assert_eq!(errno(&err), Some(27), "expected EFBIG, got {err:?}");
    println!("EFBIG-OK");
}
