//! After `reactivate`, the committed bytes stay readable and unchanged until
//! the next commit, and no `read_at` returns bytes of two generations, on
//! both backends, with real threads.

mod common;

use std::{
    fs,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Instant,
};

use common::*;
use kithara_storage::{
    Atomic, CancellationToken, MmapOptions, MmapResource, OpenMode, Resource, ResourceExt,
    ResourceStatus, StorageResource,
};
use tempfile::TempDir;

const LEN: usize = 64 * 1024;
const PIECE: usize = 4096;
const GENERATIONS: u8 = 24;

/// Reads random spans until `stop`, asserting that each read holds one
/// generation's byte only and that generations never go back.
fn reader(res: StorageResource, stop: Arc<AtomicBool>, reads: Arc<AtomicU64>, seed: u64) {
    let mut rng = seed;
    let mut last = 0u8;
    let mut buf = vec![0u8; LEN];
    while !stop.load(Ordering::Acquire) {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let offset = (rng >> 33) as usize % LEN;
        let len = 1 + (rng >> 17) as usize % (LEN - offset).min(4 * PIECE);
        let n = res.read_at(offset as u64, &mut buf[..len]).unwrap();
        assert!(n > 0, "a read of committed bytes returned nothing");
        let first = buf[0];
        if let Some(i) = buf[..n].iter().position(|&b| b != first) {
            panic!(
                "torn read at {offset}+{n}: byte 0 is generation {first}, byte {i} is {}",
                buf[i]
            );
        }
        assert!(first >= last, "generation went back from {last} to {first}");
        last = first;
        reads.fetch_add(1, Ordering::Relaxed);
    }
}

/// Generation `g` fills every byte with `g`, piece by piece in a scrambled
/// order, while readers read; each generation is committed whole.
fn rewrite_while_reading(res: StorageResource, implicit: bool) {
    res.write_at(0, &[1; LEN]).unwrap();
    res.commit(Some(LEN as u64)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let (res, stop, reads) = (res.clone(), Arc::clone(&stop), Arc::clone(&reads));
            thread::spawn(move || reader(res, stop, reads, i + 1))
        })
        .collect();
    let pieces = LEN / PIECE;
    for generation in 2..=GENERATIONS {
        if stop.load(Ordering::Acquire) {
            break;
        }
        if !implicit {
            res.reactivate().unwrap();
        }
        for k in 0..pieces {
            // A fixed permutation of the pieces (7 is coprime with 16).
            let piece = (k * 7 + usize::from(generation)) % pieces;
            res.write_at((piece * PIECE) as u64, &[generation; PIECE])
                .unwrap();
            // Committed bytes stay readable while the new ones are written.
            assert!(res.contains_range(0..LEN as u64));
            // Let the readers read between every two writes.
            let seen = reads.load(Ordering::Relaxed);
            let deadline = Instant::now() + PROMPT;
            while reads.load(Ordering::Relaxed) < seen + 2 && Instant::now() < deadline {
                if readers.iter().any(|r| r.is_finished()) {
                    // A reader failed: stop writing, let the join report it.
                    stop.store(true, Ordering::Release);
                    break;
                }
                thread::yield_now();
            }
        }
        res.commit(Some(LEN as u64)).unwrap();
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        r.join().expect("a reader saw a torn read");
    }
    assert!(
        res.status()
            == ResourceStatus::Committed {
                final_len: Some(LEN as u64)
            }
    );
    assert!(reads.load(Ordering::Relaxed) > 0);
    let mut last = vec![0u8; LEN];
    assert_eq!(res.read_at(0, &mut last).unwrap(), LEN);
    assert!(last.iter().all(|&b| b == GENERATIONS));
}

#[test]
fn rewrites_never_tear_reads_in_memory() {
    rewrite_while_reading(mem().into(), false);
}

#[test]
fn rewrites_never_tear_reads_of_a_file() {
    let dir = TempDir::new().unwrap();
    rewrite_while_reading(mmap_at(&dir.path().join("gen.bin")).into(), false);
}

#[test]
fn read_write_rewrites_never_tear_reads_of_a_file() {
    // `OpenMode::ReadWrite`: a write to the committed file reactivates it.
    let dir = TempDir::new().unwrap();
    let res = mmap_mode(&dir.path().join("rw.bin"), OpenMode::ReadWrite).unwrap();
    rewrite_while_reading(res.into(), true);
}

/// What readers see in between, step by step.
fn generation_semantics(res: StorageResource) {
    res.write_at(0, b"old-old-").unwrap();
    res.commit(None).unwrap();
    res.reactivate().unwrap();
    assert_eq!(res.status(), ResourceStatus::Active);
    assert_eq!(res.len(), None);

    // A rewrite below the committed end: invisible until the commit.
    res.write_at(0, b"NEW").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(res.read_at(0, &mut buf).unwrap(), 8);
    assert_eq!(&buf, b"old-old-");
    assert!(res.contains_range(0..8));

    // Past the committed end: readable at once; no read spans the two.
    res.write_at(8, b"tail").unwrap();
    assert!(res.contains_range(0..12));
    assert_eq!(res.next_gap(0, 12), None);
    let mut buf = [0u8; 12];
    assert_eq!(
        res.read_at(4, &mut buf).unwrap(),
        4,
        "a read must stop at the committed end"
    );
    assert_eq!(&buf[..4], b"old-");
    assert_eq!(res.read_at(8, &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"tail");

    // The commit swaps the whole new generation in: kept bytes included.
    res.commit(None).unwrap();
    assert_eq!(res.len(), Some(12));
    let mut all = Vec::new();
    res.read_into(&mut all).unwrap();
    assert_eq!(all, b"NEW-old-tail");

    // A shorter commit of a new generation drops what lies past it.
    res.reactivate().unwrap();
    res.write_at(0, b"v3").unwrap();
    res.commit(Some(2)).unwrap();
    let mut all = Vec::new();
    res.read_into(&mut all).unwrap();
    assert_eq!(all, b"v3");
}

#[test]
fn readers_see_the_committed_generation_until_the_commit_in_memory() {
    generation_semantics(mem().into());
}

#[test]
fn readers_see_the_committed_generation_until_the_commit_of_a_file() {
    let dir = TempDir::new().unwrap();
    generation_semantics(mmap_at(&dir.path().join("sem.bin")).into());
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_uncommitted_generation_leaves_the_committed_file_untouched() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("keep.bin");
    let res = mmap_at(&path);
    res.write_all(b"committed").unwrap();
    res.reactivate().unwrap();
    res.write_at(0, b"XXXXXXXXXXXXXXXX").unwrap();
    // The new generation lives beside the file, not in it.
    assert_eq!(fs::read(&path).unwrap(), b"committed");
    assert_eq!(names_in(dir.path()).len(), 2);
    res.close();
    assert_eq!(fs::read(&path).unwrap(), b"committed");
    assert_eq!(names_in(dir.path()), ["keep.bin"]);

    // Dropped mid-rewrite with persisted ranges: reopens committed as it was.
    let mut o = MmapOptions::new(dir.path().join("persisted.bin"));
    o.persist_ranges = true;
    o.mode = OpenMode::ReadWrite;
    let res: MmapResource = Resource::open(CancellationToken::new(), o.clone()).unwrap();
    res.write_all(b"committed").unwrap();
    drop(res);
    let res: MmapResource = Resource::open(CancellationToken::new(), o.clone()).unwrap();
    res.write_at(0, b"X").unwrap();
    drop(res);
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    assert_eq!(res.len(), Some(9));
    let mut out = Vec::new();
    res.read_into(&mut out).unwrap();
    assert_eq!(out, b"committed");
    assert!(names_in(dir.path()).iter().all(|n| !n.ends_with(".next")));
}

#[test]
fn atomic_replaces_through_a_new_generation_and_leaves_no_temp() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("index.m3u8");
    let res = Atomic::new(mmap_at(&path));
    res.write_all(b"#EXTM3U one").unwrap();
    let reader = res.inner().clone();
    res.write_all_durable(b"#EXTM3U two, longer").unwrap();
    let mut out = Vec::new();
    reader.read_into(&mut out).unwrap();
    assert_eq!(out, b"#EXTM3U two, longer");
    assert_eq!(fs::read(&path).unwrap(), b"#EXTM3U two, longer");
    assert_eq!(names_in(dir.path()), ["index.m3u8"]);
}
