//! What publishing to other processes costs a write, at the core (no JS):
//! `write_at` of 4 KiB and 64 KiB over an already-written 4 MiB file, in
//! order (the second pass over it: the first maps the pages), on tmpfs (`/dev/shm`, or the temp dir), three ways:
//!
//! - without persisted ranges: nothing published;
//! - with them: each write published to `<path>.live`;
//! - with them and a follower waiting (another handle, blocked in
//!   `wait_range` for a byte nobody writes): each write also wakes it.
//!
//! Each block opens fresh files and writes less than 16 MiB into each, so no
//! checkpoint (msync, fdatasync and the record, on the checkpoint thread)
//! runs during a block: what is left between the first two is publishing.
//! Blocks alternate between the cases; prints one JSON line: ns per write,
//! median and p90 of the blocks.

use std::{path::Path, thread, time::Instant};

use ours::{CancellationToken, MmapOptions, MmapResource, OpenMode, Resource, ResourceExt};

const SPAN: u64 = 4 << 20;
const BLOCKS: usize = 41;

fn open(path: &Path, persist: bool) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.initial_len = Some(SPAN);
    o.persist_ranges = persist;
    let res: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    let chunk = vec![7u8; 1 << 20];
    for at in (0..SPAN).step_by(chunk.len()) {
        res.write_at(at, &chunk).unwrap();
    }
    res
}

/// A follower of `path` blocked in a wait for a byte past the span.
fn waiting_follower(path: &Path) -> (MmapResource, thread::JoinHandle<()>) {
    let mut o = MmapOptions::new(path);
    o.mode = OpenMode::ReadOnly;
    o.persist_ranges = true;
    let f: MmapResource = Resource::open(CancellationToken::new(), o).unwrap();
    assert!(f.is_follower());
    let waiter = f.clone();
    let handle = thread::spawn(move || {
        let _ = waiter.wait_range(SPAN * 2..SPAN * 2 + 1);
    });
    while f.pending_waiters() == 0 {
        thread::yield_now();
    }
    (f, handle)
}

fn main() {
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm").to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::TempDir::new_in(base).unwrap();
    let names = [
        "no persistRanges",
        "persistRanges (published)",
        "persistRanges, a follower waiting",
    ];
    let mut out = Vec::new();
    for size in [4usize << 10, 64 << 10] {
        let writes = (SPAN as usize / size).max(1);
        let data = vec![1u8; size];
        let mut samples = [Vec::new(), Vec::new(), Vec::new()];
        for block in 0..BLOCKS {
            for (i, sample) in samples.iter_mut().enumerate() {
                let path = dir.path().join(format!("{size}-{block}-{i}.bin"));
                let res = open(&path, i > 0);
                let follower = (i == 2).then(|| waiting_follower(&path));
                // One pass to map the pages into this handle, one timed.
                let pass = || {
                    let t0 = Instant::now();
                    for k in 0..writes {
                        res.write_at((k * size) as u64, &data).unwrap();
                    }
                    t0.elapsed().as_nanos() as f64 / writes as f64
                };
                pass();
                sample.push(pass());
                if let Some((f, handle)) = follower {
                    f.close();
                    handle.join().unwrap();
                }
                res.close();
            }
        }
        for (i, name) in names.iter().enumerate() {
            let s = &mut samples[i];
            s.sort_by(f64::total_cmp);
            let pick = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
            out.push(format!(
                "{{\"name\":\"core write_at {}KiB {name}\",\"unit\":\"ns/op\",\"p50\":{:.1},\"p90\":{:.1},\"rounds\":{}}}",
                size >> 10,
                pick(0.5),
                pick(0.9),
                s.len()
            ));
        }
    }
    println!("[{}]", out.join(","));
}
