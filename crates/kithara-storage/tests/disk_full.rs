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

/// A persisted download `len` bytes long (sparse) with `[0, 64 KiB)` written,
/// made before any limit applies.
fn prepared_download(path: &Path, len: u64) {
    let mut o = MmapOptions::new(path);
    o.initial_len = Some(len);
    o.persist_ranges = true;
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    res.write_at(0, &[1u8; 64 * 1024]).unwrap();
    res.close();
    assert_eq!(std::fs::metadata(path).unwrap().len(), len);
}

#[test]
fn every_write_size_into_fresh_pages_past_the_file_size_limit_is_efbig() {
    // The file is longer than the limit before the limit applies, so no
    // write needs growth: only the write itself meets the limit. A `pwrite`
    // does (EFBIG); a store through the mapping would not (the kernel does
    // not check RLIMIT_FSIZE on page faults), so this fails if a write into
    // a fresh page skips its `pwrite`, whatever its size.
    let dir = TempDir::new().unwrap();
    prepared_download(&dir.path().join("resumed.bin"), 8 << 20);
    common::run_child(
        "fsize_fresh_pages_child",
        "ulimit -f 2048; trap '' XFSZ;",
        ("KITHARA_FSIZE_DIR", dir.path()),
        "FRESH-PAGES-EFBIG-OK",
    );
}

#[test]
#[ignore = "run by every_write_size_into_fresh_pages_past_the_file_size_limit_is_efbig in a child process"]
fn fsize_fresh_pages_child() {
    let Some(dir) = std::env::var_os("KITHARA_FSIZE_DIR") else {
        return;
    };
    let mut o = MmapOptions::new(Path::new(&dir).join("resumed.bin"));
    o.persist_ranges = true;
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    assert_eq!(res.ranges(), vec![0..64 * 1024]);
    // `ulimit -f 2048` is 1 MiB (dash) or 2 MiB (bash): all of these are past it.
    for (offset, len) in [(4 << 20, 4096), (5 << 20, 100), (6 << 20, 128 * 1024)] {
        let err = res.write_at(offset, &vec![2u8; len]).unwrap_err();
        assert_eq!(errno(&err), Some(27), "{len} bytes at {offset}: {err:?}");
        assert!(!res.contains_range(offset..offset + 1));
    }
    // Below the limit, fresh pages are written and written pages rewritten.
    res.write_at(512 * 1024, &[3u8; 4096]).unwrap();
    res.write_at(100, &[4u8; 100]).unwrap();
    res.write_at(0, &[5u8; 64 * 1024]).unwrap();
    assert_eq!(
        res.ranges(),
        vec![0..64 * 1024, 512 * 1024..512 * 1024 + 4096]
    );
    let mut buf = vec![0u8; 4096];
    res.read_at(512 * 1024, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 3));
    println!("FRESH-PAGES-EFBIG-OK");
}
