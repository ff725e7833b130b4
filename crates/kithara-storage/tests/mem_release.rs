//! A memory resource that grew past 2 MiB keeps its bytes in an anonymous
//! mapping reserved up to its `max_len` (see `backend/membuf.rs`). `close()`
//! and dropping the resource park that mapping in a small pool
//! (`backend/mempool.rs`): the next resource of the same `max_len` to grow
//! takes it, and one nobody takes is unmapped within a second by the
//! `kithara-trim` thread, which then ends. A mapping that touched more than
//! the pool's bound is unmapped at once. Linux only (elsewhere the bytes are
//! in a `Vec`).
//!
//! One test, its parts one after the other, in its own binary: each part
//! maps its own `max_len`, which nothing else in this process maps, and
//! waits until its mapping is gone, so counting mappings of that size is
//! exact (the kernel merges adjacent anonymous mappings, so two alive at
//! once could count as one of their summed size).
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{eventually, threads_named};
use kithara_storage::{CancellationToken, MemOptions, MemResource, Resource, ResourceExt};

/// Address-space sizes nothing else in this process maps, one per test.
const KEPT: u64 = (3 << 30) + 7 * 4096;
const TAKEN: u64 = (3 << 30) + 9 * 4096;
const LARGE: u64 = (3 << 30) + 11 * 4096;

/// Generous: the pool unmaps after one second.
const WITHIN: Duration = Duration::from_secs(20);

/// Mappings of this process exactly `len` bytes long.
fn mappings_of(len: u64) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .filter_map(|line| {
            let (from, to) = line.split_whitespace().next()?.split_once('-')?;
            let from = u64::from_str_radix(from, 16).ok()?;
            let to = u64::from_str_radix(to, 16).ok()?;
            Some(to - from)
        })
        .filter(|&size| size == len)
        .count()
}

/// A resource limited to `max_len`, written in order to `len` bytes of
/// `fill`, as a download writes: past 2 MiB the bytes move to the mapping.
fn grown(max_len: u64, len: usize, fill: u8) -> MemResource {
    let mut opts = MemOptions::default();
    opts.max_len = max_len;
    let res = Resource::open(CancellationToken::new(), opts).expect("open");
    let chunk = vec![fill; 256 << 10];
    for i in 0..len / chunk.len() {
        res.write_at((i * chunk.len()) as u64, &chunk)
            .expect("write");
    }
    res
}

fn byte_at(res: &MemResource, offset: u64) -> u8 {
    let mut buf = [0u8; 1];
    assert_eq!(res.read_at(offset, &mut buf).expect("read"), 1);
    buf[0]
}

#[test]
fn closed_memory_is_reused_or_given_back() {
    a_closed_resources_mapping_is_unmapped_soon_and_the_trim_thread_ends();
    the_next_resource_to_grow_takes_the_parked_mapping();
    a_mapping_over_the_pools_bound_is_unmapped_at_close();
}

fn a_closed_resources_mapping_is_unmapped_soon_and_the_trim_thread_ends() {
    assert_eq!(mappings_of(KEPT), 0);
    let small = grown(KEPT, 2 << 20, 0x5A);
    assert_eq!(
        mappings_of(KEPT),
        0,
        "2 MiB written: the bytes stay in a Vec (no huge page for a small resource)"
    );
    drop(small);
    let res = grown(KEPT, 4 << 20, 0x5A);
    assert_eq!(mappings_of(KEPT), 1, "4 MiB written: the bytes are mapped");
    assert_eq!(byte_at(&res, (4 << 20) - 1), 0x5A);
    let other = res.clone();
    res.close();
    eventually("close() with a clone alive: unmapped", WITHIN, || {
        mappings_of(KEPT) == 0
    });
    drop(other);

    let res = grown(KEPT, 4 << 20, 0x5A);
    assert_eq!(mappings_of(KEPT), 1);
    drop(res);
    eventually("dropping the last handle: unmapped", WITHIN, || {
        mappings_of(KEPT) == 0
    });
    eventually("the pool is empty: no trim thread", WITHIN, || {
        threads_named("kithara-trim") == 0
    });
}

fn the_next_resource_to_grow_takes_the_parked_mapping() {
    assert_eq!(mappings_of(TAKEN), 0);
    let first = grown(TAKEN, 6 << 20, 0xEE);
    assert_eq!(mappings_of(TAKEN), 1);
    assert_eq!(
        threads_named("kithara-trim"),
        0,
        "the part before ended with none"
    );
    first.close();
    let closed = Instant::now();
    // Written to 3 MiB, then a gap to 5 MiB over the old bytes.
    let second = grown(TAKEN, 3 << 20, 0x11);
    second.write_at(5 << 20, b"tail").expect("write past a gap");
    assert_eq!(
        mappings_of(TAKEN),
        1,
        "the second resource took the first one's mapping (none new)"
    );
    assert_eq!(byte_at(&second, 0), 0x11);
    assert_eq!(byte_at(&second, (3 << 20) - 1), 0x11);
    assert_eq!(byte_at(&second, 5 << 20), b't');
    second.commit(Some((5 << 20) + 4)).expect("commit");
    let mut gap = vec![0xFFu8; 2 << 20];
    let n = second.read_at(3 << 20, &mut gap).expect("read the gap");
    assert!(
        gap[..n].iter().all(|&b| b == 0),
        "the gap reads as zeros, not the first resource's bytes"
    );
    drop(second);
    // Parked twice, one trim thread: the second park finds it running. (A
    // thread names itself once it runs, hence the wait. If all this took
    // near a second, the first thread may be ending as a second starts.)
    eventually("a trim thread", WITHIN, || {
        threads_named("kithara-trim") >= 1
    });
    std::thread::sleep(Duration::from_millis(50));
    if closed.elapsed() < Duration::from_millis(800) {
        assert_eq!(
            threads_named("kithara-trim"),
            1,
            "one trim thread for both parks"
        );
    }
    eventually("unmapped", WITHIN, || mappings_of(TAKEN) == 0);
}

fn a_mapping_over_the_pools_bound_is_unmapped_at_close() {
    assert_eq!(mappings_of(LARGE), 0);
    let res = grown(LARGE, 66 << 20, 0x5A);
    assert_eq!(mappings_of(LARGE), 1);
    res.close();
    assert_eq!(
        mappings_of(LARGE),
        0,
        "66 MiB touched: over the 64 MiB bound"
    );
}
