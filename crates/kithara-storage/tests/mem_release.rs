//! A memory resource that grew past 2 MiB keeps its bytes in an anonymous
//! mapping reserved up to its `max_len` (see `backend/membuf.rs`); `close()`
//! and dropping the resource give that mapping back at once: no pool keeps
//! the memory. Linux only (elsewhere the bytes are in a `Vec`).
//!
//! The only test of its binary: nothing else in the process maps address
//! space of exactly `max_len`, so counting such mappings is exact.
#![cfg(target_os = "linux")]

use kithara_storage::{CancellationToken, MemOptions, MemResource, Resource, ResourceExt};

/// An address-space size nothing else in this process maps.
const MAX_LEN: u64 = (3 << 30) + 7 * 4096;

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

fn grown() -> MemResource {
    let mut opts = MemOptions::default();
    opts.max_len = MAX_LEN;
    let res = Resource::open(CancellationToken::new(), opts).expect("open");
    // In order, as a download writes: past 2 MiB the bytes move to the mapping.
    let chunk = vec![0x5Au8; 256 << 10];
    for i in 0..16u64 {
        res.write_at(i * chunk.len() as u64, &chunk).expect("write");
    }
    res
}

#[test]
fn close_and_drop_unmap_a_grown_memory_resource() {
    assert_eq!(mappings_of(MAX_LEN), 0);

    let res = grown();
    assert_eq!(
        mappings_of(MAX_LEN),
        1,
        "4 MiB written: the bytes are mapped"
    );
    let mut buf = vec![0u8; 4096];
    assert_eq!(res.read_at((4 << 20) - 4096, &mut buf).expect("read"), 4096);
    assert!(buf.iter().all(|&b| b == 0x5A));
    let other = res.clone();
    res.close();
    assert_eq!(
        mappings_of(MAX_LEN),
        0,
        "close() unmaps, clones alive or not"
    );
    drop(other);

    let res = grown();
    assert_eq!(mappings_of(MAX_LEN), 1);
    drop(res);
    assert_eq!(mappings_of(MAX_LEN), 0, "dropping the last handle unmaps");
}
