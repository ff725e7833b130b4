#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::{
    path::Path,
    process::Command,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use kithara_storage::{
    CancellationToken, MemOptions, MemResource, MmapOptions, MmapResource, OpenMode, Resource,
    ResourceExt, StorageResult, WaitOutcome,
};

/// Generous bound for "wakes promptly"; the precise figures live in bench/.
pub const PROMPT: Duration = Duration::from_secs(5);

pub fn mem() -> MemResource {
    Resource::open(CancellationToken::new(), MemOptions::default()).unwrap()
}

pub fn mmap_at(path: &Path) -> MmapResource {
    Resource::open(CancellationToken::new(), MmapOptions::new(path)).unwrap()
}

pub fn mmap_mode(path: &Path, mode: OpenMode) -> StorageResult<MmapResource> {
    let mut opts = MmapOptions::new(path);
    opts.mode = mode;
    Resource::open(CancellationToken::new(), opts)
}

/// Runs a blocking wait on another thread and hands back a receiver for its
/// result, after making sure the waiter is registered.
pub fn spawn_wait<R: ResourceExt + Clone>(
    res: &R,
    range: std::ops::Range<u64>,
) -> mpsc::Receiver<StorageResult<WaitOutcome>> {
    let (tx, rx) = mpsc::channel();
    let r = res.clone();
    thread::spawn(move || {
        let _ = tx.send(r.wait_range(range));
    });
    rx
}

/// Waits until `pending()` reports at least `n` (waiters have registered).
pub fn until_pending(pending: impl Fn() -> usize, n: usize) {
    let deadline = Instant::now() + PROMPT;
    while pending() < n {
        assert!(Instant::now() < deadline, "waiters never registered");
        thread::sleep(Duration::from_millis(1));
    }
}

pub fn both_backends(dir: &Path) -> Vec<(&'static str, kithara_storage::StorageResource)> {
    vec![
        ("mem", mem().into()),
        ("mmap", mmap_at(&dir.join("both.bin")).into()),
    ]
}

/// Re-runs the ignored test `child` of this test binary in a new process,
/// through `sh -c` with `shell_prefix` (e.g. `ulimit -f 2048;`) and `env`,
/// and asserts that it exits cleanly and prints `marker`. Used where a
/// regression would kill the process (a signal), so it kills only the child.
pub fn run_child(child: &str, shell_prefix: &str, env: (&str, &Path), marker: &str) {
    let exe = std::env::current_exe().unwrap();
    let script = format!("{shell_prefix} exec \"$0\" --exact {child} --ignored --nocapture");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&exe)
        .env(env.0, env.1)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child died: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(marker), "{stdout}");
}
