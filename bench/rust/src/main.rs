//! Rust-level benchmarks of our `kithara-storage` core against the seed crate
//! (`kithara-storage = "=0.0.1-alpha2"` from crates.io), in one process so
//! every ratio compares numbers from the same run on the same machine.
//!
//! Cases, each on `MmapResource` and `MemResource` of both crates:
//! 1. write throughput: 64 MiB in 4 KiB / 1 MiB chunks, sequential and random order,
//!    into a fresh resource ("write") and over an already-written one ("overwrite");
//! 2. read throughput: 4 KiB / 1 MiB reads at random offsets of a committed 64 MiB resource;
//! 3. wake latency of a reader blocked in `wait_range` when a writer writes its byte;
//! 4. wake latency of a reader blocked in `wait_range` when the resource's token is cancelled;
//! 5. `wait_range` on an already-written range (the fast path), 1 and 2 threads.
//!
//! Prints a table and writes the same rows as JSON (default
//! `bench/results/rust.json`, or the path after `--out`).

use std::{
    fmt::Write as _,
    fs,
    ops::Range,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Barrier,
    },
    thread,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

/// Size of every written or read span.
const SPAN: u64 = 64 << 20;
const KIB4: usize = 4 << 10;
const MIB1: usize = 1 << 20;

/// Timed samples per write case and crate (each writes 64 MiB into a fresh resource).
const WRITE_SAMPLES: usize = 7;
/// Timed samples per read case and crate (each reads 64 MiB).
const READ_SAMPLES: usize = 15;
/// Rounds of the write-wake case.
const WAKE_ROUNDS: u64 = 200;
/// Rounds of the cancel-wake case (the seed needs up to 50 ms per round).
const CANCEL_ROUNDS: usize = 40;
/// Calls per sample of the fast-path case, and samples per thread.
const FAST_CALLS: usize = 100_000;
const FAST_SAMPLES: usize = 11;

/// `--only SUBSTRING`: run just the cases whose name contains it (for profiling).
static ONLY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Whether `case` is selected by `--only`.
fn wanted(case: &str) -> bool {
    ONLY.get()
        .and_then(Option::as_deref)
        .is_none_or(|only| case.contains(only))
}

/// How a wait ended, in terms both crates share.
#[derive(Debug, PartialEq, Eq)]
enum Waited {
    Ready,
    Cancelled,
    Other(String),
}

/// The operations the benchmark drives, implemented by both crates' resources.
trait Store: Clone + Send + Sync + 'static {
    /// Which crate and backend, for messages.
    const NAME: &'static str;
    /// Opens a fresh, empty, active resource (`path` is ignored in memory).
    fn open(token: CancellationToken, path: &Path) -> Self;
    fn write(&self, offset: u64, data: &[u8]);
    fn read(&self, offset: u64, buf: &mut [u8]) -> usize;
    fn wait(&self, range: Range<u64>) -> Waited;
    fn commit(&self, len: u64);
}

/// The four `Store` methods that are spelled the same in both crates.
macro_rules! store_ops {
    ($krate:ident) => {
        fn write(&self, offset: u64, data: &[u8]) {
            $krate::ResourceExt::write_at(self, offset, data).expect("write_at");
        }

        fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
            $krate::ResourceExt::read_at(self, offset, buf).expect("read_at")
        }

        fn wait(&self, range: Range<u64>) -> Waited {
            match $krate::ResourceExt::wait_range(self, range) {
                Ok($krate::WaitOutcome::Ready) => Waited::Ready,
                Err($krate::StorageError::Cancelled) => Waited::Cancelled,
                other => Waited::Other(format!("{other:?}")),
            }
        }

        fn commit(&self, len: u64) {
            $krate::ResourceExt::commit(self, Some(len)).expect("commit");
        }
    };
}

impl Store for ours::MmapResource {
    const NAME: &'static str = "ours mmap";
    fn open(token: CancellationToken, path: &Path) -> Self {
        ours::Resource::open(token, ours::MmapOptions::new(path)).expect("open ours mmap")
    }
    store_ops!(ours);
}

impl Store for ours::MemResource {
    const NAME: &'static str = "ours mem";
    fn open(token: CancellationToken, _path: &Path) -> Self {
        ours::MemResource::new(token)
    }
    store_ops!(ours);
}

impl Store for seed::MmapResource {
    const NAME: &'static str = "seed mmap";
    fn open(token: CancellationToken, path: &Path) -> Self {
        seed::Resource::open(token, seed::MmapOptions::new(path.to_path_buf()))
            .expect("open seed mmap")
    }
    store_ops!(seed);
}

impl Store for seed::MemResource {
    const NAME: &'static str = "seed mem";
    fn open(token: CancellationToken, _path: &Path) -> Self {
        seed::MemResource::new(token)
    }
    store_ops!(seed);
}

/// A scratch directory that hands out fresh file names and is removed at the end.
struct Scratch {
    dir: PathBuf,
    next: AtomicU64,
}

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("kithara-rust-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create scratch dir");
        Self {
            dir,
            next: AtomicU64::new(0),
        }
    }

    fn path(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("r{n}.bin"))
    }

    /// Opens a fresh resource; the returned path is for [`Self::discard`].
    fn open<S: Store>(&self, token: CancellationToken) -> (S, PathBuf) {
        let path = self.path();
        (S::open(token, &path), path)
    }

    /// Drops the resource, then removes its file (if it has one).
    fn discard<S: Store>(&self, res: S, path: PathBuf) {
        drop(res);
        let _ = fs::remove_file(path);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// SplitMix64: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Chunk offsets covering `0..SPAN` exactly once, in order or shuffled.
fn chunk_offsets(chunk: usize, shuffled: bool, seed: u64) -> Vec<u64> {
    let mut offsets: Vec<u64> = (0..SPAN / chunk as u64).map(|i| i * chunk as u64).collect();
    if shuffled {
        let mut rng = Rng(seed);
        for i in (1..offsets.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            offsets.swap(i, j);
        }
    }
    offsets
}

/// `count` random read offsets such that `offset + size <= SPAN`.
fn random_offsets(size: usize, count: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| rng.below(SPAN - size as u64 + 1))
        .collect()
}

/// Median and 99th percentile of a set of samples.
#[derive(Debug, Clone, Copy)]
struct Summary {
    p50: f64,
    p99: f64,
}

/// Nearest-rank percentile; `q` in 0..=1.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarizes samples where smaller is better (times, latencies): p99 is the slow tail.
fn summarize(mut samples: Vec<f64>) -> Summary {
    samples.sort_by(f64::total_cmp);
    Summary {
        p50: percentile(&samples, 0.5),
        p99: percentile(&samples, 0.99),
    }
}

/// One row of the result table.
struct Row {
    case: String,
    unit: &'static str,
    /// Throughput rows: more is better. Latency rows: less is better.
    higher_is_better: bool,
    ours: Summary,
    seed: Summary,
}

impl Row {
    /// How many times faster ours is at the median: > 1 means ours is faster.
    fn ratio(&self) -> f64 {
        if self.higher_is_better {
            self.ours.p50 / self.seed.p50
        } else {
            self.seed.p50 / self.ours.p50
        }
    }
}

/// Turns per-sample seconds for `bytes` into a MB/s summary (p99 = slowest 1%).
fn throughput(seconds: Vec<f64>, bytes: u64) -> Summary {
    let t = summarize(seconds);
    Summary {
        p50: bytes as f64 / t.p50 / 1e6,
        p99: bytes as f64 / t.p99 / 1e6,
    }
}

/// Case 1, one sample: seconds to write `offsets` chunks into a fresh resource.
fn write_sample<S: Store>(scratch: &Scratch, chunk: usize, offsets: &[u64]) -> f64 {
    let (res, path) = scratch.open::<S>(CancellationToken::new());
    let data = vec![0xA5u8; chunk];
    let start = Instant::now();
    for &offset in offsets {
        res.write(offset, &data);
    }
    let secs = start.elapsed().as_secs_f64();
    scratch.discard(res, path);
    secs
}

/// Case 1b, one sample: seconds to overwrite `offsets` chunks of a resource
/// whose span is already written, so no allocation, growth or first-touch
/// page fault is timed: only the per-call path and the copy.
fn overwrite_sample<S: Store>(res: &S, chunk: usize, offsets: &[u64]) -> f64 {
    let data = vec![0x3Cu8; chunk];
    let start = Instant::now();
    for &offset in offsets {
        res.write(offset, &data);
    }
    start.elapsed().as_secs_f64()
}

/// Case 1 for one backend: alternates the two crates sample by sample.
/// "write" opens a fresh resource per sample (what a download pays);
/// "overwrite" rewrites an already-written span (the warm hot path).
fn write_case<O: Store, S: Store>(scratch: &Scratch, backend: &str, rows: &mut Vec<Row>) {
    for warm in [false, true] {
        let kind = if warm { "overwrite" } else { "write" };
        for (chunk, label) in [(KIB4, "4KiB"), (MIB1, "1MiB")] {
            for (shuffled, order) in [(false, "seq"), (true, "random")] {
                let case = format!("{kind} {backend} {label} {order}");
                if !wanted(&case) {
                    continue;
                }
                let offsets = chunk_offsets(chunk, shuffled, 7);
                let (ours, seed) = if warm {
                    let (ours_res, ours_path) = scratch.open::<O>(CancellationToken::new());
                    let (seed_res, seed_path) = scratch.open::<S>(CancellationToken::new());
                    // Warm-up: writes the whole span once.
                    overwrite_sample(&ours_res, chunk, &offsets);
                    overwrite_sample(&seed_res, chunk, &offsets);
                    let (mut ours, mut seed) = (Vec::new(), Vec::new());
                    for _ in 0..WRITE_SAMPLES {
                        ours.push(overwrite_sample(&ours_res, chunk, &offsets));
                        seed.push(overwrite_sample(&seed_res, chunk, &offsets));
                    }
                    scratch.discard(ours_res, ours_path);
                    scratch.discard(seed_res, seed_path);
                    (ours, seed)
                } else {
                    // Warm-up: first-touch costs of the allocator and the page cache.
                    write_sample::<O>(scratch, chunk, &offsets);
                    write_sample::<S>(scratch, chunk, &offsets);
                    let (mut ours, mut seed) = (Vec::new(), Vec::new());
                    for _ in 0..WRITE_SAMPLES {
                        ours.push(write_sample::<O>(scratch, chunk, &offsets));
                        seed.push(write_sample::<S>(scratch, chunk, &offsets));
                    }
                    (ours, seed)
                };
                push_row(
                    rows,
                    Row {
                        case,
                        unit: "MB/s",
                        higher_is_better: true,
                        ours: throughput(ours, SPAN),
                        seed: throughput(seed, SPAN),
                    },
                );
            }
        }
    }
}

/// A committed resource holding `SPAN` bytes, read once end to end so the
/// page cache and the mapping are warm.
fn committed<S: Store>(scratch: &Scratch) -> (S, PathBuf) {
    let (res, path) = scratch.open::<S>(CancellationToken::new());
    let data = vec![0x5Au8; MIB1];
    for offset in (0..SPAN).step_by(MIB1) {
        res.write(offset, &data);
    }
    res.commit(SPAN);
    let mut buf = vec![0u8; MIB1];
    for offset in (0..SPAN).step_by(MIB1) {
        assert_eq!(res.read(offset, &mut buf), MIB1, "{}: short read", S::NAME);
    }
    (res, path)
}

/// Case 2, one sample: seconds to read `size` bytes at each of `offsets`.
fn read_sample<S: Store>(res: &S, buf: &mut [u8], offsets: &[u64]) -> f64 {
    let start = Instant::now();
    for &offset in offsets {
        let n = res.read(offset, buf);
        debug_assert_eq!(n, buf.len());
    }
    std::hint::black_box(&buf);
    start.elapsed().as_secs_f64()
}

/// Case 2 for one backend.
fn read_case<O: Store, S: Store>(scratch: &Scratch, backend: &str, rows: &mut Vec<Row>) {
    if !wanted(&format!("read {backend}")) {
        return;
    }
    let (ours_res, ours_path) = committed::<O>(scratch);
    let (seed_res, seed_path) = committed::<S>(scratch);
    for (size, label) in [(KIB4, "4KiB"), (MIB1, "1MiB")] {
        let offsets = random_offsets(size, (SPAN / size as u64) as usize, 11);
        let mut buf = vec![0u8; size];
        read_sample(&ours_res, &mut buf, &offsets);
        read_sample(&seed_res, &mut buf, &offsets);
        let (mut ours, mut seed) = (Vec::new(), Vec::new());
        for _ in 0..READ_SAMPLES {
            ours.push(read_sample(&ours_res, &mut buf, &offsets));
            seed.push(read_sample(&seed_res, &mut buf, &offsets));
        }
        push_row(
            rows,
            Row {
                case: format!("read {backend} {label} random"),
                unit: "MB/s",
                higher_is_better: true,
                ours: throughput(ours, SPAN),
                seed: throughput(seed, SPAN),
            },
        );
    }
    scratch.discard(ours_res, ours_path);
    scratch.discard(seed_res, seed_path);
}

/// Nanoseconds since `base`, as a `u64` for an atomic.
fn nanos_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_nanos()).expect("bench ran for centuries")
}

/// Case 3: microseconds from just before `write_at(k, [1])` to the return of
/// a reader blocked in `wait_range(k..k + 1)`, one sample per round.
fn wake_after_write<S: Store>(scratch: &Scratch) -> Vec<f64> {
    let (res, path) = scratch.open::<S>(CancellationToken::new());
    let base = Instant::now();
    // Round the reader is about to wait on (+1, so 0 means "none yet").
    let waiting = Arc::new(AtomicU64::new(0));
    // When the writer started the write that decides the current round.
    let stamp = Arc::new(AtomicU64::new(0));
    let reader = {
        let (res, waiting, stamp) = (res.clone(), Arc::clone(&waiting), Arc::clone(&stamp));
        thread::spawn(move || {
            (0..WAKE_ROUNDS)
                .map(|k| {
                    waiting.store(k + 1, Ordering::SeqCst);
                    let outcome = res.wait(k..k + 1);
                    let woke = nanos_since(base);
                    assert_eq!(outcome, Waited::Ready, "{}: wait after write", S::NAME);
                    (woke - stamp.load(Ordering::SeqCst)) as f64 / 1e3
                })
                .collect::<Vec<f64>>()
        })
    };
    for k in 0..WAKE_ROUNDS {
        while waiting.load(Ordering::SeqCst) != k + 1 {
            thread::yield_now();
        }
        // Let the reader get from "about to wait" to asleep in the wait.
        thread::sleep(Duration::from_millis(1));
        stamp.store(nanos_since(base), Ordering::SeqCst);
        res.write(k, &[1]);
    }
    let latencies = reader.join().expect("reader thread");
    scratch.discard(res, path);
    latencies
}

/// Case 4: microseconds from `token.cancel()` to the return of a reader
/// blocked in `wait_range`, one fresh resource per round. The delay before
/// cancelling is random in 1..51 ms (same sequence for both crates) so the
/// seed's 50 ms poll is hit at a random phase, as in real use.
fn wake_after_cancel<S: Store>(scratch: &Scratch) -> Vec<f64> {
    let mut rng = Rng(23);
    let base = Instant::now();
    (0..CANCEL_ROUNDS)
        .map(|_| {
            let token = CancellationToken::new();
            let (res, path) = scratch.open::<S>(token.clone());
            let reader = {
                let res = res.clone();
                thread::spawn(move || {
                    let outcome = res.wait(0..1);
                    (outcome, nanos_since(base))
                })
            };
            thread::sleep(Duration::from_micros(1_000 + rng.below(50_000)));
            let cancelled_at = nanos_since(base);
            token.cancel();
            let (outcome, woke) = reader.join().expect("reader thread");
            assert_eq!(outcome, Waited::Cancelled, "{}: wait after cancel", S::NAME);
            scratch.discard(res, path);
            (woke - cancelled_at) as f64 / 1e3
        })
        .collect()
}

/// Case 5, one thread's share: ns per `wait_range` on written ranges, one
/// sample per `FAST_CALLS` calls.
fn fast_path_samples<S: Store>(res: &S, ranges: &[Range<u64>], start: &Barrier) -> Vec<f64> {
    start.wait();
    (0..FAST_SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for range in ranges.iter().cycle().take(FAST_CALLS) {
                let outcome = res.wait(range.clone());
                debug_assert_eq!(outcome, Waited::Ready);
                std::hint::black_box(outcome);
            }
            t.elapsed().as_nanos() as f64 / FAST_CALLS as f64
        })
        .collect()
}

/// Case 5: `threads` threads each calling `wait_range` on ranges inside the
/// written first MiB of an active resource.
fn fast_path<S: Store>(scratch: &Scratch, threads: usize) -> Vec<f64> {
    let (res, path) = scratch.open::<S>(CancellationToken::new());
    res.write(0, &vec![1u8; MIB1]);
    let mut rng = Rng(5);
    let ranges: Arc<Vec<Range<u64>>> = Arc::new(
        (0..4096)
            .map(|_| {
                let start = rng.below((MIB1 - KIB4) as u64);
                start..start + KIB4 as u64
            })
            .collect(),
    );
    // Warm-up, which also drains the seed's queue of written ranges.
    fast_path_samples(&res, &ranges, &Barrier::new(1));
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (res, ranges, barrier) = (res.clone(), Arc::clone(&ranges), Arc::clone(&barrier));
            thread::spawn(move || fast_path_samples(&res, &ranges, &barrier))
        })
        .collect();
    let samples = workers
        .into_iter()
        .flat_map(|w| w.join().expect("fast-path thread"))
        .collect();
    scratch.discard(res, path);
    samples
}

/// Cases 3 to 5 for one backend.
fn wait_cases<O: Store, S: Store>(scratch: &Scratch, backend: &str, rows: &mut Vec<Row>) {
    if wanted(&format!("wake after write {backend}")) {
        push_row(
            rows,
            Row {
                case: format!("wake after write {backend}"),
                unit: "us",
                higher_is_better: false,
                ours: summarize(wake_after_write::<O>(scratch)),
                seed: summarize(wake_after_write::<S>(scratch)),
            },
        );
    }
    if wanted(&format!("wake after cancel {backend}")) {
        push_row(
            rows,
            Row {
                case: format!("wake after cancel {backend}"),
                unit: "us",
                higher_is_better: false,
                ours: summarize(wake_after_cancel::<O>(scratch)),
                seed: summarize(wake_after_cancel::<S>(scratch)),
            },
        );
    }
    for threads in [1, 2] {
        if !wanted(&format!("wait_range ready {backend} {threads}T")) {
            continue;
        }
        push_row(
            rows,
            Row {
                case: format!("wait_range ready {backend} {threads}T"),
                unit: "ns/call",
                higher_is_better: false,
                ours: summarize(fast_path::<O>(scratch, threads)),
                seed: summarize(fast_path::<S>(scratch, threads)),
            },
        );
    }
}

/// Formats a value with a precision that suits its size.
fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

const HEADER: [&str; 5] = ["case", "unit", "ours p50 (p99)", "seed p50 (p99)", "ratio"];
const WIDTHS: [usize; 5] = [30, 7, 20, 20, 8];

fn print_line(cells: [&str; 5]) {
    println!(
        "{:<w0$} {:<w1$} {:>w2$} {:>w3$} {:>w4$}",
        cells[0],
        cells[1],
        cells[2],
        cells[3],
        cells[4],
        w0 = WIDTHS[0],
        w1 = WIDTHS[1],
        w2 = WIDTHS[2],
        w3 = WIDTHS[3],
        w4 = WIDTHS[4],
    );
}

/// Records a row and prints it at once, so progress is visible.
fn push_row(rows: &mut Vec<Row>, row: Row) {
    let ours = format!("{} ({})", num(row.ours.p50), num(row.ours.p99));
    let seed = format!("{} ({})", num(row.seed.p50), num(row.seed.p99));
    let ratio = format!("{:.2}x", row.ratio());
    print_line([&row.case, row.unit, &ours, &seed, &ratio]);
    rows.push(row);
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_summary(s: Summary) -> String {
    format!("{{\"p50\": {:.3}, \"p99\": {:.3}}}", s.p50, s.p99)
}

/// The rows as JSON, with enough context to read them later.
fn to_json(rows: &[Row], total: Duration) -> String {
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::from("{\n");
    let _ = writeln!(
        out,
        "  \"suite\": \"rust: kithara-storage (ours) vs kithara-storage 0.0.1-alpha2 (seed)\","
    );
    let _ = writeln!(
        out,
        "  \"ratio\": \"median speedup of ours over seed; > 1 means ours is faster\","
    );
    let _ = writeln!(
        out,
        "  \"p99\": \"99th percentile of the samples in the slow direction (lowest MB/s, highest latency)\","
    );
    let _ = writeln!(
        out,
        "  \"machine\": {{\"os\": {}, \"arch\": {}, \"cores\": {cores}}},",
        json_string(std::env::consts::OS),
        json_string(std::env::consts::ARCH)
    );
    let _ = writeln!(out, "  \"total_seconds\": {:.1},", total.as_secs_f64());
    out.push_str("  \"cases\": [\n");
    for (i, row) in rows.iter().enumerate() {
        let _ = write!(
            out,
            "    {{\"case\": {}, \"unit\": {}, \"higher_is_better\": {}, \"ours\": {}, \"seed\": {}, \"ratio\": {:.3}}}",
            json_string(&row.case),
            json_string(row.unit),
            row.higher_is_better,
            json_summary(row.ours),
            json_summary(row.seed),
            row.ratio()
        );
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/rust.json");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = PathBuf::from(args.next().expect("--out needs a path")),
            "--only" => {
                let only = args.next().expect("--only needs a substring");
                ONLY.set(Some(only)).expect("--only given twice");
            }
            other => {
                eprintln!(
                    "usage: kithara-storage-bench [--out results.json] [--only SUBSTRING] (unknown: {other})"
                );
                std::process::exit(2);
            }
        }
    }

    let started = Instant::now();
    let scratch = Scratch::new();
    let mut rows = Vec::new();
    println!("kithara-storage: ours vs seed 0.0.1-alpha2 (ratio > 1 = ours faster)");
    print_line(HEADER);
    print_line(WIDTHS.map(|w| &"------------------------------"[..w]));

    write_case::<ours::MmapResource, seed::MmapResource>(&scratch, "mmap", &mut rows);
    write_case::<ours::MemResource, seed::MemResource>(&scratch, "mem", &mut rows);
    read_case::<ours::MmapResource, seed::MmapResource>(&scratch, "mmap", &mut rows);
    read_case::<ours::MemResource, seed::MemResource>(&scratch, "mem", &mut rows);
    wait_cases::<ours::MmapResource, seed::MmapResource>(&scratch, "mmap", &mut rows);
    wait_cases::<ours::MemResource, seed::MemResource>(&scratch, "mem", &mut rows);

    let total = started.elapsed();
    println!("total {:.1} s", total.as_secs_f64());
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).expect("create results dir");
    }
    fs::write(&out, to_json(&rows, total)).expect("write results JSON");
    println!("wrote {}", out.display());
}
