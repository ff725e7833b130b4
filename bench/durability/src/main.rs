//! What durability and generations cost, on our core alone (the seed has no
//! persisted ranges): compare a run on this tree with a run on the commit
//! before (the binary uses only API both have).
//!
//! 1. disk allocated (`st_blocks * 512`) by a 2-byte write at 4 GiB into a new
//!    `MmapResource`;
//! 2. `write_at` latency with `persist_ranges` over 256 MiB of 64 KiB pieces
//!    (checkpoints every 16 MiB): worst, p99, how many took over 1 ms / 5 ms,
//!    beside the same loop without `persist_ranges` (what the kernel costs);
//! 3. `flush()` of 128 MiB just written;
//! 4. 4 KiB reads at random offsets of a committed 64 MiB resource, plain and
//!    while a rewrite (`reactivate` + writes) is in progress, mmap and memory.
//!
//! Usage: `cargo run --release --manifest-path bench/durability/Cargo.toml [-- --out FILE]`
//! (default `bench/results/durability.json`). Files go to `target/bench-scratch`,
//! on the same disk as the tree (not a tmpfs).

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ours::{
    CancellationToken, MemOptions, MemResource, MmapOptions, MmapResource, Resource, ResourceExt,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-scratch/durability");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn mmap(path: &Path, persist: bool) -> MmapResource {
    let mut o = MmapOptions::new(path);
    o.persist_ranges = persist;
    Resource::open(CancellationToken::new(), o).unwrap()
}

#[cfg(unix)]
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().blocks() * 512
}

#[cfg(not(unix))]
fn allocated(_path: &Path) -> u64 {
    0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Rows(Vec<(String, String, f64)>);

impl Rows {
    fn push(&mut self, case: &str, unit: &str, value: f64) {
        println!("{case:<58} {value:>12.3} {unit}");
        self.0.push((case.to_owned(), unit.to_owned(), value));
    }
}

fn far_write(dir: &Path, rows: &mut Rows) {
    let path = dir.join("far.bin");
    let res = mmap(&path, false);
    res.write_at(4 * GIB, b"xy").unwrap();
    rows.push(
        "disk allocated by a 2-byte write at 4 GiB (mmap)",
        "bytes",
        allocated(&path) as f64,
    );
    res.close();
    fs::remove_file(&path).unwrap();
}

fn write_stalls(dir: &Path, rows: &mut Rows, persist: bool) {
    let label = if persist { "persistRanges" } else { "no persistRanges" };
    let piece = vec![7u8; 64 * KIB as usize];
    let mut worst = Vec::new();
    let mut p99 = Vec::new();
    let mut over1 = Vec::new();
    let mut over5 = Vec::new();
    let mut totals = Vec::new();
    for round in 0..3 {
        let path = dir.join(format!("stall-{round}.bin"));
        let res = mmap(&path, persist);
        let mut times = Vec::with_capacity(4096);
        let started = Instant::now();
        for i in 0..(256 * MIB / piece.len() as u64) {
            let t = Instant::now();
            res.write_at(i * piece.len() as u64, &piece).unwrap();
            times.push(t.elapsed());
        }
        totals.push(started.elapsed());
        res.close();
        times.sort();
        worst.push(ms(*times.last().unwrap()));
        p99.push(ms(percentile(&times, 0.99)));
        over1.push(times.iter().filter(|t| **t > Duration::from_millis(1)).count() as f64);
        over5.push(times.iter().filter(|t| **t > Duration::from_millis(5)).count() as f64);
        fs::remove_file(&path).unwrap();
        let _ = fs::remove_file(dir.join(format!("stall-{round}.bin.ranges")));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let case = |what: &str| format!("{label} write_at, 256 MiB in 64 KiB: {what}");
    rows.push(&case("worst of 3 runs"), "ms", max(&worst));
    rows.push(&case("median worst"), "ms", median(worst));
    rows.push(&case("median p99"), "ms", median(p99));
    rows.push(&case("writes > 1 ms (median)"), "count", median(over1));
    rows.push(&case("writes > 5 ms (median)"), "count", median(over5));
    rows.push(
        &case("whole loop (median)"),
        "ms",
        median(totals.iter().map(|d| ms(*d)).collect()),
    );
}

fn flush_time(dir: &Path, rows: &mut Rows) {
    let path = dir.join("flush.bin");
    let res = mmap(&path, true);
    let piece = vec![3u8; MIB as usize];
    for i in 0..128 {
        res.write_at(i * MIB, &piece).unwrap();
    }
    let t = Instant::now();
    res.flush().unwrap();
    rows.push("flush() after writing 128 MiB (persistRanges)", "ms", ms(t.elapsed()));
    res.close();
    fs::remove_file(&path).unwrap();
}

/// Median MB/s of 4 KiB reads at random offsets of `res` (64 MiB).
fn read_rate<R: ResourceExt>(res: &R) -> f64 {
    let mut buf = vec![0u8; 4096];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut rates = Vec::new();
    for _ in 0..9 {
        let n = 16_384;
        let t = Instant::now();
        for _ in 0..n {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let at = (rng >> 20) % (64 * MIB - 4096);
            assert_eq!(res.read_at(at, std::hint::black_box(&mut buf)).unwrap(), 4096);
            std::hint::black_box(&buf);
        }
        rates.push((n * 4096) as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn reads<R: ResourceExt>(res: R, backend: &str, rows: &mut Rows) {
    let piece = vec![1u8; MIB as usize];
    for i in 0..64 {
        res.write_at(i * MIB, &piece).unwrap();
    }
    res.commit(Some(64 * MIB)).unwrap();
    rows.push(&format!("4 KiB random reads, committed 64 MiB ({backend})"), "MB/s", read_rate(&res));
    res.reactivate().unwrap();
    for i in 0..16 {
        res.write_at(i * 4 * MIB, &[2u8; 4096]).unwrap();
    }
    rows.push(
        &format!("4 KiB random reads, during a rewrite of it ({backend})"),
        "MB/s",
        read_rate(&res),
    );
    res.commit(Some(64 * MIB)).unwrap();
    res.close();
}

fn main() {
    let mut out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/durability.json");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = PathBuf::from(args.next().expect("--out needs a path")),
            other => {
                eprintln!("usage: durability [--out FILE] (unknown: {other})");
                std::process::exit(2);
            }
        }
    }
    let dir = scratch();
    let mut rows = Rows(Vec::new());
    far_write(&dir, &mut rows);
    // Without checkpoints first: what the kernel alone costs (page cache,
    // dirty-page throttling), the floor for the case with them.
    write_stalls(&dir, &mut rows, false);
    write_stalls(&dir, &mut rows, true);
    flush_time(&dir, &mut rows);
    reads(mmap(&dir.join("reads.bin"), false), "mmap", &mut rows);
    let mem: MemResource = Resource::open(CancellationToken::new(), MemOptions::default()).unwrap();
    reads(mem, "mem", &mut rows);
    let _ = fs::remove_dir_all(&dir);

    let mut json = String::from("{\n  \"suite\": \"rust: durability and generations (ours only; compare runs)\",\n  \"cases\": [\n");
    for (i, (case, unit, value)) in rows.0.iter().enumerate() {
        let _ = write!(json, "    {{\"case\": {case:?}, \"unit\": {unit:?}, \"value\": {value:.3}}}");
        json.push_str(if i + 1 < rows.0.len() { ",\n" } else { "\n" });
    }
    json.push_str("  ]\n}\n");
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&out, json).unwrap();
    println!("wrote {}", out.display());
}
