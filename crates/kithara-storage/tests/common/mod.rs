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

/// A file resource that keeps its ranges on disk (`persist_ranges`).
pub fn persisted(path: &Path, mode: OpenMode) -> MmapResource {
    let mut opts = MmapOptions::new(path);
    opts.mode = mode;
    opts.persist_ranges = true;
    Resource::open(CancellationToken::new(), opts).unwrap()
}

/// Threads of this process named `name` (Linux: `/proc/self/task/*/comm`).
pub fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Waits (bounded by `within`) until `done()`; panics with `what` if it
/// never is.
pub fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let until = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a blocking wait on another thread and hands back a receiver for its
/// result. The wait itself is bounded too ([`BOUND`]), so the thread ends
/// even if nothing decides it; callers bound their `recv` with [`PROMPT`].
pub fn spawn_wait<R: ResourceExt + Clone>(
    res: &R,
    range: std::ops::Range<u64>,
) -> mpsc::Receiver<StorageResult<WaitOutcome>> {
    let (tx, rx) = mpsc::channel();
    let r = res.clone();
    thread::spawn(move || {
        let _ = tx.send(r.wait_range_timeout(range, BOUND));
    });
    rx
}

/// A wait that the test expects to be decided now (or soon): bounded by
/// [`BOUND`], so a wait nothing decides fails the test with `Timeout`
/// instead of hanging it.
pub fn wait<R: ResourceExt + ?Sized>(
    res: &R,
    range: std::ops::Range<u64>,
) -> StorageResult<WaitOutcome> {
    res.wait_range_timeout(range, BOUND)
}

/// Bound on a wait that a test expects to be decided: long enough never to
/// pass on a working build, short enough that a lost wake-up fails the test.
pub const BOUND: Duration = Duration::from_secs(10);

/// Runs `f` on another thread and returns its result, or panics with `what`
/// if it does not return within [`BOUND`]: a wait that is never decided (or a
/// loop that never ends) fails the test instead of hanging it.
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(BOUND) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: did not return within {BOUND:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

/// Joins `handle`, or panics if the thread does not finish within [`BOUND`]
/// (it is left running; the test binary exits without it).
pub fn join_bounded<T>(handle: thread::JoinHandle<T>) -> T {
    let deadline = Instant::now() + BOUND;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "a thread did not finish within {BOUND:?}: a wait was never decided"
        );
        thread::sleep(Duration::from_millis(1));
    }
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
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

/// A small file system mounted for one test (tmpfs, or ext4 on a loop
/// device), unmounted on drop. Mounting needs root; where it is refused the
/// test fails with a clear message instead of skipping.
#[cfg(target_os = "linux")]
pub struct Mount {
    dir: tempfile::TempDir,
    image: Option<std::path::PathBuf>,
}

#[cfg(target_os = "linux")]
impl Mount {
    /// A tmpfs of `size` (e.g. `"16m"`).
    pub fn tmpfs(size: &str) -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        Self::mounted(dir, None, out, "tmpfs")
    }

    /// An ext4 file system of `mib` MiB with 4 KiB blocks, on a loop device.
    pub fn ext4(mib: u64) -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let image = std::path::PathBuf::from(format!("{}.img", dir.path().display()));
        let file = std::fs::File::create(&image).unwrap();
        file.set_len(mib << 20).unwrap();
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096", "-m", "0"])
            .arg(&image)
            .output();
        let made = mkfs.as_ref().is_ok_and(|o| o.status.success());
        assert!(
            made,
            "cannot make an ext4 image for this test (mkfs.ext4 from e2fsprogs is needed): {mkfs:?}"
        );
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(dir.path())
            .output();
        Self::mounted(dir, Some(image), out, "ext4 (loop)")
    }

    fn mounted(
        dir: tempfile::TempDir,
        image: Option<std::path::PathBuf>,
        out: std::io::Result<std::process::Output>,
        what: &str,
    ) -> Self {
        let ok = out.as_ref().is_ok_and(|o| o.status.success());
        if !ok {
            if let Some(image) = &image {
                let _ = std::fs::remove_file(image);
            }
            panic!(
                "cannot mount a {what} for this test; it needs root and permission to mount \
                 (run the tests as root, or in a container with CAP_SYS_ADMIN): {out:?}"
            );
        }
        Self { dir, image }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Free blocks of the file system, in bytes (`statvfs`).
    pub fn free_bytes(&self) -> u64 {
        let st = rustix::fs::statvfs(self.dir.path()).unwrap();
        st.f_bfree * st.f_frsize
    }
}

#[cfg(target_os = "linux")]
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// Disk allocated to `path` (`st_blocks * 512`).
#[cfg(unix)]
pub fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// The OS error number of an `Io` error.
pub fn errno(e: &kithara_storage::StorageError) -> Option<i32> {
    e.errno()
}

/// Whether the tests run as root (some cases need another user's files).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The inode number of the file at `path`.
#[cfg(unix)]
pub fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// Runs the ignored test `child` of this test binary in a new process with
/// `env`, waits until it prints `marker`, and kills it with SIGKILL (no
/// destructor, no close runs): what a crash leaves behind.
pub fn run_child_killed(child: &str, env: (&str, &Path), marker: &str) {
    use std::io::{BufRead, BufReader};
    let exe = std::env::current_exe().unwrap();
    let mut proc = Command::new(exe)
        .args(["--exact", child, "--ignored", "--nocapture"])
        .env(env.0, env.1)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let wanted = marker.to_owned();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(&wanted) {
                let _ = tx.send(());
                break;
            }
        }
    });
    let reached = rx.recv_timeout(Duration::from_secs(60));
    let _ = proc.kill();
    let _ = proc.wait();
    assert!(reached.is_ok(), "child {child} never printed {marker}");
}

/// A byte that depends on its offset, so misplaced bytes show.
pub fn byte_at(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// The bytes `byte_at` gives for `range`.
pub fn pattern(range: std::ops::Range<u64>) -> Vec<u8> {
    range.map(byte_at).collect()
}

/// Another process running an ignored test of this test binary, driven
/// line by line over its stdin and stdout. Killed on drop if still running.
pub struct Child {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Child {
    /// Starts the ignored test `test` of this binary with `env` set.
    pub fn spawn(test: &str, env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits (at most [`PROMPT`] times 4) for a line with `marker` and
    /// returns it from the marker on (libtest may print before it).
    pub fn expect(&self, marker: &str) -> String {
        let deadline = Instant::now() + PROMPT * 4;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find(marker) {
                        return line[at..].to_owned();
                    }
                }
                Err(e) => panic!("the child never said {marker:?}: {e}"),
            }
        }
    }

    /// Sends one command line, and waits for its `OK`.
    pub fn run(&mut self, command: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.expect("OK");
    }

    /// `kill -9`, and waits until the process is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Closes its stdin (the child exits normally) and waits, at most
    /// [`PROMPT`] times 4, for it to succeed.
    pub fn finish(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + PROMPT * 4;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "child failed: {status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "the child did not exit");
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a child process that writes a file when told to: opens
/// `KITHARA_TEST_PATH` (mode `KITHARA_TEST_MODE`: `auto` or `readWrite`,
/// persisted ranges), says `OPEN writer` or `OPEN follower` (or `ERR code`),
/// then runs commands from stdin until it closes: `write OFFSET LEN` (the
/// `byte_at` pattern), `flush`, `commit LEN`, answering `OK` to each.
pub fn writer_child() {
    use std::io::{BufRead, Write};
    let Ok(path) = std::env::var("KITHARA_TEST_PATH") else {
        return;
    };
    let mut opts = kithara_storage::MmapOptions::new(path);
    opts.persist_ranges = true;
    opts.mode = match std::env::var("KITHARA_TEST_MODE").as_deref() {
        Ok("readWrite") => OpenMode::ReadWrite,
        _ => OpenMode::Auto,
    };
    let res: MmapResource = match Resource::open(CancellationToken::new(), opts) {
        Ok(res) => res,
        Err(e) => {
            println!("ERR {}", e.code());
            return;
        }
    };
    let role = if res.is_follower() {
        "follower"
    } else {
        "writer"
    };
    println!("OPEN {role}");
    std::io::stdout().flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| words[i].parse::<u64>().unwrap();
        match words.first().copied() {
            Some("write") => {
                let (at, len) = (num(1), num(2));
                res.write_at(at, &pattern(at..at + len)).unwrap();
            }
            Some("flush") => res.flush().unwrap(),
            Some("commit") => res.commit(Some(num(1))).unwrap(),
            other => panic!("unknown command {other:?}"),
        }
        println!("OK");
        std::io::stdout().flush().unwrap();
    }
}

/// Records every event it is told of.
#[derive(Default)]
pub struct Recorder(std::sync::Mutex<Vec<String>>);

impl kithara_storage::AvailabilityObserver for Recorder {
    fn on_write(&self, range: std::ops::Range<u64>) {
        self.0.lock().unwrap().push(format!("write {range:?}"));
    }
    fn on_commit(&self, final_len: u64) {
        self.0.lock().unwrap().push(format!("commit {final_len}"));
    }
    fn on_fail(&self, reason: &str) {
        self.0.lock().unwrap().push(format!("fail {reason}"));
    }
    fn on_close(&self) {
        self.0.lock().unwrap().push("close".into());
    }
}

impl Recorder {
    /// The events heard since the last call, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}
