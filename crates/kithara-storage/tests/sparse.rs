//! Unwritten bytes cost no disk: a file grows sparse, only the pages a write
//! touches get blocks, and a write refused for lack of space (ENOSPC, never
//! EIO or SIGBUS) leaves no blocks behind. Checked on the worktree's own disk
//! and on small tmpfs and ext4 file systems mounted for the test.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use kithara_storage::{
    CancellationToken, MmapOptions, MmapResource, Resource, ResourceExt, StorageError,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const ENOSPC: i32 = 28;

fn open(path: &Path) -> MmapResource {
    Resource::open(CancellationToken::new(), MmapOptions::new(path)).unwrap()
}

/// A directory on the disk the worktree is on (not /tmp, which may be a tmpfs).
fn disk_dir() -> tempfile::TempDir {
    tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn enospc(result: Result<(), StorageError>, what: &str) {
    match result {
        Err(e) => assert_eq!(
            errno(&e),
            Some(ENOSPC),
            "{what}: expected ENOSPC, got {e:?}"
        ),
        Ok(()) => panic!("{what}: the write succeeded on a full disk"),
    }
}

#[test]
fn a_far_write_costs_one_page_not_the_gap() {
    let dir = disk_dir();
    let path = dir.path().join("far.bin");
    let res = open(&path);
    res.write_at(4 * GIB, b"xy").unwrap();
    assert!(res.contains_range(4 * GIB..4 * GIB + 2));
    let used = allocated(&path);
    assert!(
        used <= 16 * KIB,
        "a 2-byte write at 4 GiB allocated {used} bytes"
    );
    let mut buf = [0u8; 2];
    assert_eq!(res.read_at(4 * GIB, &mut buf).unwrap(), 2);
    assert_eq!(&buf, b"xy");
    // The growth slack costs nothing either, and commit trims it.
    res.commit(None).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * GIB + 2);
    assert!(allocated(&path) <= 16 * KIB);
}

#[test]
fn a_new_file_costs_no_disk_until_written() {
    let dir = disk_dir();
    let path = dir.path().join("new.bin");
    let mut o = MmapOptions::new(&path);
    o.initial_len = Some(256 * MIB);
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    assert_eq!(allocated(&path), 0);
    // Small writes land in the mapping; each reserves only its own pages.
    for i in 0..8 {
        res.write_at(i * 16 * MIB, &[1; 100]).unwrap();
    }
    let used = allocated(&path);
    assert!(
        used <= 8 * 16 * KIB,
        "8 small writes allocated {used} bytes"
    );
}

/// Writes `piece` after `piece` from `start` until the disk is full; checks
/// that the refused write is ENOSPC and left the disk as it found it.
/// Returns where the written bytes end.
fn fill(fs: &Mount, res: &MmapResource, path: &Path, start: u64, piece: &[u8]) -> u64 {
    let mut end = start;
    loop {
        let before = (fs.free_bytes(), allocated(path));
        match res.write_at(end, piece) {
            Ok(()) => end += piece.len() as u64,
            Err(e) => {
                assert_eq!(errno(&e), Some(ENOSPC), "{e:?}");
                let after = (fs.free_bytes(), allocated(path));
                assert_eq!(
                    after, before,
                    "the write that found the disk full leaked blocks"
                );
                return end;
            }
        }
        assert!(end < GIB, "the file system never filled");
    }
}

/// What a full disk must look like to a user of `fs`.
fn full_disk_scenario(fs: &Mount) {
    let path = fs.path().join("big.bin");
    let res = open(&path);

    // Far past the size of the whole file system: costs one page.
    res.write_at(GIB, b"xy").unwrap();
    assert!(allocated(&path) <= 16 * KIB);

    // Fill it (below the far write). The write that finds the disk full has
    // partly fit: what it took must be given back.
    let piece = vec![7u8; 256 * KIB as usize];
    let mut end = fill(fs, &res, &path, 0, &piece);
    assert!(end > 0);

    let before = (fs.free_bytes(), allocated(&path));
    // A mapping write that needs more than is left: refused, nothing kept.
    enospc(
        res.write_at(512 * MIB, &[8; MIB as usize]),
        "a 1 MiB mapped write",
    );
    assert_eq!(
        (fs.free_bytes(), allocated(&path)),
        before,
        "the failed mapped write leaked blocks"
    );
    // A large write into fresh territory goes through pwrite: the same.
    enospc(res.write_at(2 * GIB, &[9; MIB as usize]), "a 1 MiB pwrite");
    assert_eq!(
        (fs.free_bytes(), allocated(&path)),
        before,
        "the failed pwrite leaked blocks"
    );

    // To the brim with small writes, then one more.
    let small = [5u8; 4096];
    end = fill(fs, &res, &path, end, &small);
    let brim = (fs.free_bytes(), allocated(&path));
    enospc(res.write_at(700 * MIB, &[6; 100]), "a 100-byte write");
    assert_eq!(
        (fs.free_bytes(), allocated(&path)),
        brim,
        "the failed small write leaked blocks"
    );

    // Everything written before is intact, and the resource lives on.
    assert!(res.contains_range(0..end));
    assert!(!res.contains_range(512 * MIB..512 * MIB + 1));
    let mut buf = vec![0u8; end as usize];
    assert_eq!(res.read_at(0, &mut buf).unwrap(), end as usize);
    let filled = end - end % (256 * KIB);
    assert!(buf[..filled as usize].iter().all(|&b| b == 7));
    assert!(buf[filled as usize..].iter().all(|&b| b == 5));
    let mut far = [0u8; 2];
    assert_eq!(res.read_at(GIB, &mut far).unwrap(), 2);
    assert_eq!(&far, b"xy");
    // Reading a gap reads zeros and allocates nothing (tmpfs would allocate a
    // page for a hole read through the mapping).
    let mut gap = vec![1u8; MIB as usize];
    assert_eq!(res.read_at(100 * MIB, &mut gap).unwrap(), gap.len());
    assert!(gap.iter().all(|&b| b == 0));
    assert_eq!((fs.free_bytes(), allocated(&path)), brim);
}

#[test]
fn a_full_tmpfs_is_enospc_and_leaks_nothing() {
    full_disk_scenario(&Mount::tmpfs("16m"));
}

#[test]
fn a_full_ext4_is_enospc_and_leaks_nothing() {
    // ext4 keeps what a failing fallocate had reserved: the driver must give
    // it back.
    full_disk_scenario(&Mount::ext4(32));
}

#[test]
fn a_rewrite_keeps_the_holes_of_the_committed_file() {
    let dir = disk_dir();
    let path: PathBuf = dir.path().join("holes.bin");
    let res = open(&path);
    res.write_at(0, &[1; 4096]).unwrap();
    res.write_at(GIB, &[2; 4096]).unwrap();
    res.commit(None).unwrap();
    let committed = allocated(&path);
    res.reactivate().unwrap();
    res.write_at(4096, &[3; 4096]).unwrap();
    res.commit(None).unwrap();
    // The new generation copied the two written pages, not the gigabyte between.
    let used = allocated(&path);
    assert!(used <= committed + 64 * KIB, "{committed} -> {used}");
    let mut buf = [0u8; 3];
    res.read_at(4095, &mut buf).unwrap();
    assert_eq!(buf, [1, 3, 3]);
}

/// An in-order writer gets blocks for a window of holes ahead of it in one
/// `pwrite` (so its next small writes are copies into the mapping): the
/// window is bounded, stops at bytes written out of order (it must not write
/// its zeros over them), claims nothing, and a commit trims it.
#[test]
fn an_in_order_writer_reserves_a_bounded_window_that_spares_written_bytes() {
    const PIECE: u64 = 4 * KIB;
    let dir = disk_dir();
    let path = dir.path().join("run.bin");
    let mut o = MmapOptions::new(&path);
    o.initial_len = Some(64 * MIB);
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    // Written out of order first, in the way of the run's window.
    res.write_at(200 * KIB + 10, b"ahead").unwrap();
    let run = 32 * PIECE;
    for i in 0..run / PIECE {
        let piece = vec![i as u8 + 1; PIECE as usize];
        res.write_at(i * PIECE, &piece).unwrap();
    }
    let mut ahead = [0u8; 5];
    assert_eq!(res.read_at(200 * KIB + 10, &mut ahead).unwrap(), 5);
    assert_eq!(&ahead, b"ahead", "the window wrote over written bytes");
    assert!(res.contains_range(0..run));
    assert!(!res.contains_range(run..run + 1), "the window is claimed");
    // The window is there: blocks up to the bytes written ahead, not just
    // the run's own pages.
    let reserved = allocated(&path);
    assert!(reserved >= 200 * KIB, "no window ahead: {reserved} bytes");

    // Past the out-of-order page, a second run far away: its window is
    // bounded, whatever the file's length.
    let far = 32 * MIB;
    for i in 0..16 {
        res.write_at(far + i * PIECE, &[9; PIECE as usize]).unwrap();
    }
    let used = allocated(&path);
    assert!(
        used <= 200 * KIB + 2 * (16 * PIECE + 256 * KIB) + 16 * KIB,
        "two short runs and one page allocated {used} bytes"
    );
    let mut buf = vec![0u8; (run + PIECE) as usize];
    assert_eq!(res.read_at(0, &mut buf).unwrap(), buf.len());
    for i in 0..run / PIECE {
        let at = (i * PIECE) as usize;
        assert!(buf[at..at + PIECE as usize]
            .iter()
            .all(|&b| b == i as u8 + 1));
    }
    assert!(buf[run as usize..].iter().all(|&b| b == 0));

    // A commit at the end of the second run cuts the window past it.
    res.write_at(far + 16 * PIECE, b"end").unwrap();
    let final_len = far + 16 * PIECE + 3;
    res.commit(Some(final_len)).ok();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), final_len);
    assert!(allocated(&path) <= 200 * KIB + 256 * KIB + 16 * PIECE + 16 * KIB);
}

/// A small write across a page with blocks and a hole goes to the file whole
/// pages at a time: the bytes of the written page around it are read back
/// and kept, on either side.
#[test]
fn a_write_across_a_written_page_and_a_hole_keeps_the_bytes_around_it() {
    let dir = disk_dir();
    let path = dir.path().join("across.bin");
    let res = open(&path);
    // Written page first, hole after: the head of the widened write.
    res.write_at(0, &[1; 4096]).unwrap();
    res.write_at(4000, &[2; 1000]).unwrap();
    // Hole first, written page after: the tail.
    res.write_at(12_288, &[3; 4096]).unwrap();
    res.write_at(12_000, &[4; 1000]).unwrap();
    let mut buf = vec![0u8; 16_384];
    let file = std::fs::read(&path).unwrap();
    buf.copy_from_slice(&file[..16_384]);
    assert!(buf[..4000].iter().all(|&b| b == 1), "head lost");
    assert!(buf[4000..5000].iter().all(|&b| b == 2));
    assert!(buf[12_000..13_000].iter().all(|&b| b == 4));
    assert!(buf[13_000..16_384].iter().all(|&b| b == 3), "tail lost");
    let mut via = vec![0u8; 5000];
    assert_eq!(res.read_at(0, &mut via).unwrap(), 5000);
    assert_eq!(&via[..], &buf[..5000]);
}
