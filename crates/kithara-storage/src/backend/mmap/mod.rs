//! [`MmapDriver`]: a file mapped into memory with `memmap2`.
//!
//! # Locking
//!
//! One read-write lock guards the files and their mappings: reads copy out
//! under the read lock; copies into a mapping, growth, commit and close take
//! the write lock, so no pointer into a mapping outlives a remap. Large writes
//! into fresh pages go to the file with `pwrite` under the read lock. The
//! resource calls every mutating method under its state lock, so writes never
//! race each other here. Lock order: resource state, then the record lock,
//! then this lock, then a file's block map (`file.rs`).
//!
//! # Disk
//!
//! The file grows sparse and only the pages a write touches get blocks,
//! reserved before the copy: see `file.rs`.
//!
//! # Generations
//!
//! A committed file is never written in place. After `reactivate` (or a write
//! to a committed `ReadWrite` file, which reactivates it), the resource is
//! active again, and:
//!
//! - the committed bytes `[0, L)` (L = the committed length) stay readable
//!   and unchanged, served from the committed file, until the next commit;
//! - the first write creates the *next generation*: a fresh file created
//!   exclusively beside the data file (`.<name>.<random>.next`), sparse. Every
//!   write of the new generation goes there, below L or past it;
//! - bytes written past L are readable at once (from the next generation), so
//!   a file that grows keeps streaming; a write below L becomes visible only at
//!   the commit;
//! - no read spans both: a read that starts below L stops at L (a short read),
//!   so one `read_at` returns bytes of one generation only;
//! - `contains_range`, `wait_range` and `next_gap` answer for `[0, L)` (present)
//!   plus what the new generation has written; `len()` is `None` (active);
//! - `commit(n)` copies the committed bytes the new generation did not
//!   overwrite (holes stay holes) into it, sets its length to `n`, and renames
//!   it over the data file; then the new generation is the committed file.
//!   A commit without writes keeps the committed file as it is (or, for a new
//!   length, goes through a new generation too);
//! - dropping or closing the resource before the commit deletes the next
//!   generation; the committed file was never touched.
//!
//! With persisted ranges, the record always describes the file at the path:
//! while a new generation is written, checkpoints record the committed file
//! (committed, whole), and a reopen finds it committed as it was; after the
//! rename, the next checkpoint records the new file (a crash before that
//! leaves a record of another file: `Mismatch`, active with nothing present).
//!
//! [`DriverIo::replace`] (behind [`Atomic`](crate::Atomic)) uses the same
//! machinery for a whole new content: written and optionally fsynced beside
//! the file, renamed over it, never a mix. An `AtomicChunked` built on this
//! driver can reuse it by starting every resource in a new generation.
//!
//! # Several processes
//!
//! - **One writer.** A handle that can write (a new or active file in
//!   `Auto`, any file in `ReadWrite`, and an `Auto` handle of a committed
//!   file once it reactivates) holds the file's writer lock for its life
//!   (`lock.rs`); another gets [`StorageError::Locked`]. The lock moves to
//!   each new generation before it is renamed over the path.
//! - **Publishing.** With persisted ranges, the writer of an in-progress file
//!   (its first generation: a rewrite is invisible until its commit anyway)
//!   publishes each write to `<path>.live` right after its bytes are in the
//!   file, and the commit after it is done (`live.rs`).
//! - **Followers.** A handle that opens an in-progress file with persisted
//!   ranges in `ReadOnly`, or in `Auto` while a writer holds the lock, is a
//!   follower: read-only, its ranges and commit come from the live region
//!   (`Feed`, see `backend::follow`). It reads with `pread`, never through a
//!   mapping (the file grows and may be truncated at the commit under it, and
//!   Windows would refuse that truncation while a mapping exists).
//! - **Takeover.** A writer that opens an in-progress file merges the record
//!   with the live region, when that region is believable (same file, same
//!   boot), so what a writer killed before its next checkpoint wrote is not
//!   lost, then restarts the region with what it has.
#![deny(unsafe_code)]

mod file;
mod live;
mod lock;

use std::{
    collections::BTreeMap,
    fs::{self, File},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use parking_lot::{Mutex, RwLock};
use rangemap::RangeSet;

use self::{
    file::MappedFile,
    live::{Publisher, Subscriber},
    lock::{Acquired, WriterLock},
};
use super::{
    record::{self, Record},
    Driver, DriverIo, DriverState, Feed, Resource,
};
use crate::{
    error,
    error::IoContext,
    sys::{self, EEXIST, EIO, ENOENT},
    temp::{self, TempName},
    OpenMode, StorageError, StorageResult,
};

/// Size of a newly created file when `initial_len` is not given.
pub const DEFAULT_INITIAL_LEN: u64 = 64 * 1024;

/// With persisted ranges, the record is refreshed after this many bytes are written.
const CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;

/// Writes of at least this many bytes into fresh territory go to the file
/// with `pwrite`; smaller ones are copied into the mapping, where a call
/// usually costs no system call.
///
/// The page cache is shared, so the mapping sees the bytes at once; but a
/// fresh page written through the mapping costs a page fault each (and on
/// ext4 an extent conversion per fault), which `pwrite` does in bulk.
const DIRECT_WRITE_MIN: usize = 64 * 1024;

/// Options of a file-backed resource.
///
/// Built with [`MmapOptions::new`] and then field assignment, so fields added
/// later do not break callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MmapOptions {
    /// The backing file. Missing parent directories are created.
    pub path: PathBuf,
    /// Length of a newly created file (sparse: it costs no disk);
    /// [`DEFAULT_INITIAL_LEN`] when `None`. Ignored for existing files.
    pub initial_len: Option<u64>,
    /// How an existing file is opened.
    pub mode: OpenMode,
    /// Keep the written ranges in `<path>.ranges` so an interrupted download
    /// reopens active with exactly the ranges it had. A non-empty file without
    /// a valid record for it then opens active with nothing present (see
    /// [`Recovery`]).
    ///
    /// It also makes the file followable from other processes: the writer
    /// publishes every write to `<path>.live`, and a handle that opens the
    /// in-progress file read-only (or in `Auto` while a writer holds it)
    /// follows it live. See [`ResourceExt::is_follower`](crate::ResourceExt::is_follower).
    pub persist_ranges: bool,
}

impl MmapOptions {
    /// Options for `path` in [`OpenMode::Auto`], without persisted ranges.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            initial_len: None,
            mode: OpenMode::Auto,
            persist_ranges: false,
        }
    }
}

/// The new generation of a rewritten file, beside it until the commit.
struct Next {
    file: MappedFile,
    /// `None` only while the commit renames it.
    name: Option<TempName>,
    /// What it is renamed over: the path, or the file a symlink there names.
    target: PathBuf,
    /// What this generation has written.
    written: RangeSet<u64>,
}

/// A committed file being rewritten.
struct Rewrite {
    /// The committed length: below it, readers get the committed bytes.
    base_len: u64,
    /// Keep the committed bytes the new generation does not overwrite.
    keep: bool,
    /// Created by the first write.
    next: Option<Next>,
}

struct Files {
    /// The file at the path as this handle opened it (`None` for a missing
    /// file opened read-only, and after close).
    main: Option<MappedFile>,
    rewrite: Option<Rewrite>,
    closed: bool,
    /// The file was truncated under the mapping by someone else.
    damaged: bool,
    /// The writer's lock on the file at the path, while this handle may write.
    lock: Option<WriterLock>,
    /// A follower's file, read with `pread` (`main` is `None`).
    followed: Option<File>,
}

impl Files {
    /// The file writes go to now (none yet while rewriting before the first write).
    fn write_target(&self) -> Option<&MappedFile> {
        match &self.rewrite {
            Some(rw) => rw.next.as_ref().map(|n| &n.file),
            None => self.main.as_ref(),
        }
    }
}

/// The file-backed driver of [`MmapResource`].
pub struct MmapDriver {
    path: PathBuf,
    mode: OpenMode,
    persist: bool,
    files: RwLock<Files>,
    unpersisted: AtomicU64,
    /// End of the highest byte written to the current write target.
    written_end: AtomicU64,
    /// Counts generation swaps, so a checkpoint snapshot taken before one is
    /// never recorded for the file after it.
    epoch: AtomicU64,
    /// Serializes record writes.
    record: Mutex<()>,
    /// The writer's live region, while the first generation is written.
    /// Lock order: after `files`.
    live: Mutex<Option<Publisher>>,
    /// The writer's lock is the caller's (an `AtomicChunked`'s claim on its
    /// temp): never take it here.
    claimed: bool,
}

impl std::fmt::Debug for MmapDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapDriver")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A resource backed by a memory-mapped file.
pub type MmapResource = Resource<MmapDriver>;

/// What an open made that a failure later in the same open must undo, so a
/// failed open leaves the directory as it found it.
enum Made {
    /// A new file (and these missing parent directories, deepest first).
    File { dirs: Vec<PathBuf> },
    /// An existing empty file, lengthened.
    Grown,
}

impl Made {
    /// Undoes what the open made at `path`; `file` is the file it made.
    fn undo(self, path: &Path, file: &File) {
        match self {
            Made::Grown => {
                let _ = file.set_len(0);
            }
            Made::File { dirs } => {
                // Only our own file: someone may have put another one there.
                let ours = sys::file_id(file).ok();
                let still =
                    ours.is_some_and(|id| sys::path_id(path).is_ok_and(|now| now.same_file(&id)));
                if still {
                    let _ = fs::remove_file(path);
                }
                for dir in dirs {
                    // Only if empty: never what someone else put there meanwhile.
                    let _ = fs::remove_dir(dir);
                }
            }
        }
    }
}

/// Creates the missing parent directories of `path`; returns those it
/// created, deepest first.
fn create_parents(path: &Path) -> StorageResult<Vec<PathBuf>> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(Vec::new());
    };
    let missing: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    fs::create_dir_all(parent).ctx("mkdir", parent)?;
    Ok(missing)
}

/// Opens the existing regular file at `path` (see [`sys::open_regular`]).
fn open_existing_file(path: &Path, write: bool) -> StorageResult<(File, fs::Metadata)> {
    sys::open_regular(path, write, true).ctx("open", path)
}

/// Creates the file at `path`, which was missing: exclusively, so the file
/// this open goes on with is the one it made. `Ok(None)` if something
/// appeared there meanwhile (look again).
fn create_file(path: &Path) -> StorageResult<Option<(File, Made)>> {
    let dirs = create_parents(path)?;
    match sys::create_new(path) {
        Ok(file) => Ok(Some((file, Made::File { dirs }))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let dangling = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
                && fs::metadata(path).is_err();
            if dangling {
                let why = "a symbolic link to nowhere is at the path: a new file is never \
                           created through a link";
                return Err(StorageError::io(
                    error::refusal(EEXIST, why),
                    "open",
                    Some(path.to_path_buf()),
                ));
            }
            Ok(None)
        }
        Err(e) => Err(StorageError::io(e, "open", Some(path.to_path_buf()))),
    }
}

fn eio(path: &Path, syscall: &'static str) -> StorageError {
    StorageError::io(
        std::io::Error::from_raw_os_error(EIO),
        syscall,
        Some(path.to_path_buf()),
    )
}

fn is_eio(e: &StorageError) -> bool {
    e.errno() == Some(EIO)
}

/// How an existing non-empty file (or an empty one with persisted ranges) opens.
struct Existing {
    init: DriverState,
    writable: bool,
}

fn open_existing(
    file: &File,
    path: &Path,
    len: u64,
    mode: OpenMode,
    persist: bool,
) -> Option<Existing> {
    let mut init = DriverState {
        read_only: mode == OpenMode::ReadOnly,
        reopen_on_write: mode == OpenMode::ReadWrite,
        ..DriverState::default()
    };
    if !persist {
        // The seed's rule: an existing non-empty file is complete.
        if len == 0 && mode != OpenMode::ReadOnly {
            return None;
        }
        init.final_len = Some(len);
        return Some(Existing {
            init,
            writable: false,
        });
    }
    match record::load(path, file, len) {
        Ok(rec) => {
            let writable = rec.final_len.is_none() && mode != OpenMode::ReadOnly;
            init.available = rec.available;
            init.final_len = rec.final_len;
            init.meta = rec.meta;
            Some(Existing { init, writable })
        }
        // An empty file without a record holds nothing to lose: new, or
        // (read-only) committed and empty as without a record.
        Err(_) if len == 0 => {
            if mode != OpenMode::ReadOnly {
                return None;
            }
            init.final_len = Some(0);
            Some(Existing {
                init,
                writable: false,
            })
        }
        Err(why) => {
            // Nothing proves which bytes were written: claim none.
            init.recovery = why;
            Some(Existing {
                init,
                writable: mode != OpenMode::ReadOnly,
            })
        }
    }
}

/// How many times an open starts over when the file changed under it (a
/// writer committed, or the file was created or replaced, meanwhile).
const OPEN_ATTEMPTS: usize = 8;

/// What one open of the data file produced.
struct Opened {
    init: DriverState,
    main: Option<MappedFile>,
    lock: Option<WriterLock>,
    live: Option<Publisher>,
    followed: Option<File>,
    /// The file was created by this open.
    created: bool,
}

impl Opened {
    fn new(init: DriverState, main: Option<MappedFile>) -> Self {
        Self {
            init,
            main,
            lock: None,
            live: None,
            followed: None,
            created: false,
        }
    }
}

/// Takes the writer's lock on `file` (open at `path`). `Ok(None)`: the
/// file at the path changed, start over.
fn lock_writer(path: &Path, file: &File) -> StorageResult<Option<Locking>> {
    match WriterLock::try_acquire(path, file)? {
        Acquired::Held(lock) => Ok(Some(Locking::Held(lock))),
        Acquired::Busy => Ok(Some(Locking::Busy)),
        Acquired::Replaced => Ok(None),
    }
}

/// The outcome of [`lock_writer`].
enum Locking {
    Held(WriterLock),
    Busy,
}

fn locked(path: &Path) -> StorageError {
    StorageError::Locked {
        path: path.to_path_buf(),
    }
}

impl MmapDriver {
    /// One attempt at opening; `Ok(None)` to start over.
    ///
    /// Only regular files open (see [`sys::check_regular`]): a FIFO, a
    /// socket, a device or a kernel file fails at once, before any `open(2)`
    /// that could block.
    fn open_once(opts: &MmapOptions) -> StorageResult<Option<Opened>> {
        let path = &opts.path;
        let exists = match fs::metadata(path) {
            Ok(meta) => {
                sys::check_regular_meta(&meta).ctx("open", path)?;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(StorageError::io(e, "stat", Some(path.clone()))),
        };
        if !exists {
            if opts.mode == OpenMode::ReadOnly {
                let init = DriverState {
                    read_only: true,
                    final_len: Some(0),
                    ..DriverState::default()
                };
                return Ok(Some(Opened::new(init, None)));
            }
            return Self::create(opts, None);
        }
        let (file, stat) = match open_existing_file(path, false) {
            // Gone since we looked: look again.
            Err(e) if e.errno() == Some(ENOENT) => return Ok(None),
            other => other?,
        };
        let len = stat.len();
        let Some(existing) = open_existing(&file, path, len, opts.mode, opts.persist_ranges) else {
            // Empty, and nothing recorded: start it afresh, in place.
            return Self::create(opts, Some(&file));
        };
        if existing.writable {
            return Self::open_writer(opts, &file);
        }
        let in_progress = existing.init.final_len.is_none();
        if opts.persist_ranges && in_progress {
            // Read-only on a file being written: follow its writer.
            return Self::follow(opts, file, len);
        }
        let mut opened = Opened::new(existing.init, None);
        if opts.mode == OpenMode::ReadWrite {
            // A committed file that writes reopen: its writer holds the lock.
            match lock_writer(path, &file)? {
                None => return Ok(None),
                Some(Locking::Busy) => return Err(locked(path)),
                Some(Locking::Held(lock)) => opened.lock = Some(lock),
            }
        }
        opened.main = Some(MappedFile::open(file, path, false)?);
        Ok(Some(opened))
    }

    /// A missing file (`seen` is `None`) or the empty file `seen` without a
    /// record: create it (exclusively, so the file this open goes on with is
    /// the one it made) or open it for writing, lock it, start it active.
    /// What this open made (a file, its parent directories, a length) is
    /// undone if it fails later, say writing the first record.
    fn create(opts: &MmapOptions, seen: Option<&File>) -> StorageResult<Option<Opened>> {
        let path = &opts.path;
        let (file, made) = match seen {
            Some(seen) => match reopen_writable(seen, path)? {
                Some(file) => (file, Made::Grown),
                None => return Ok(None),
            },
            None => match create_file(path)? {
                Some(created) => created,
                None => return Ok(None),
            },
        };
        // Someone else may have opened it at the same moment and write it.
        let (file, lock) = match Self::lock_for_writing(opts, file)? {
            Ok(held) => held,
            Err(instead) => return Ok(instead),
        };
        if file.metadata().ctx("fstat", path)?.len() > 0 {
            // Written (and let go) by someone else since we looked.
            return Ok(None);
        }
        let init = DriverState {
            reopen_on_write: opts.mode == OpenMode::ReadWrite,
            ..DriverState::default()
        };
        let len = opts.initial_len.unwrap_or(DEFAULT_INITIAL_LEN);
        let started = file.try_clone().ctx("open", path).and_then(|mine| {
            let main = MappedFile::create(mine, path, len)?;
            let mut live = None;
            if opts.persist_ranges {
                // An empty record bound to this file: if we die before the
                // first checkpoint, the reopen claims nothing.
                record::store(path, main.file(), &Record::default())?;
                let id = sys::file_id(main.file()).ctx("fstat", path)?;
                let (mut publisher, _) = Publisher::open(path, &id, 0)?;
                publisher.start(&id, &RangeSet::new())?;
                live = Some(publisher);
            }
            Ok((main, live))
        });
        let (main, live) = match started {
            Ok(started) => started,
            Err(e) => {
                made.undo(path, &file);
                return Err(e);
            }
        };
        let mut opened = Opened::new(init, Some(main));
        opened.live = live;
        opened.lock = Some(lock);
        opened.created = true;
        Ok(Some(opened))
    }

    /// An existing file to write: lock it, read its state again under the
    /// lock (a writer that just let go may have changed it), and resume it
    /// from its record and its live region.
    fn open_writer(opts: &MmapOptions, seen: &File) -> StorageResult<Option<Opened>> {
        let path = &opts.path;
        // The state was read from `seen`: it must be this file's.
        let Some(file) = reopen_writable(seen, path)? else {
            return Ok(None);
        };
        let (file, lock) = match Self::lock_for_writing(opts, file)? {
            Ok(held) => held,
            Err(instead) => return Ok(instead),
        };
        let len = file.metadata().ctx("fstat", path)?.len();
        let existing = open_existing(&file, path, len, opts.mode, opts.persist_ranges);
        let Some(Existing {
            mut init,
            writable: true,
        }) = existing
        else {
            // Committed or emptied meanwhile: start over, as for any such file.
            return Ok(None);
        };
        let mut opened = Opened::new(DriverState::default(), None);
        if opts.persist_ranges {
            let id = sys::file_id(&file).ctx("fstat", path)?;
            let (mut live, left) = Publisher::open(path, &id, len)?;
            // A record that could not be used makes the file start with
            // nothing present (see `Recovery`); the region does not speak
            // for it either.
            let left = left.filter(|_| init.recovery == crate::Recovery::None);
            if let Some(left) = left {
                // What the last writer published after its last checkpoint.
                for range in left.ranges {
                    init.available.insert(range);
                }
                if left.final_len == Some(len) {
                    // It committed and died before recording it: record it
                    // (data first), so the commit outlives this boot too.
                    init.final_len = Some(len);
                    file.sync_data().ctx("fsync", path)?;
                    let committed = Record {
                        available: std::iter::once(0..len).filter(|r| !r.is_empty()).collect(),
                        final_len: Some(len),
                        meta: init.meta.clone(),
                    };
                    record::store(path, &file, &committed)?;
                }
            }
            if init.final_len.is_none() {
                live.start(&id, &init.available)?;
                opened.live = Some(live);
            }
        }
        let writable = init.final_len.is_none();
        if writable || opts.mode == OpenMode::ReadWrite {
            opened.lock = Some(lock);
        }
        // Otherwise committed after all: no writer, no lock.
        opened.init = init;
        opened.main = Some(MappedFile::open(file, path, writable)?);
        Ok(Some(opened))
    }

    /// Takes the writer's lock on `file` for an open that writes. `Err`
    /// ends the attempt instead: `None` to start over (the file at the path
    /// changed), or a follower, where an `auto` open with persisted ranges
    /// finds another writer holding it (it gives way, as for any file with a
    /// writer). A lock held by another writer is `Locked` otherwise.
    fn lock_for_writing(
        opts: &MmapOptions,
        file: File,
    ) -> StorageResult<Result<(File, WriterLock), Option<Opened>>> {
        let path = &opts.path;
        match lock_writer(path, &file)? {
            None => Ok(Err(None)),
            Some(Locking::Held(lock)) => Ok(Ok((file, lock))),
            Some(Locking::Busy) if opts.mode == OpenMode::Auto && opts.persist_ranges => {
                let len = file.metadata().ctx("fstat", path)?.len();
                Self::follow(opts, file, len).map(Err)
            }
            Some(Locking::Busy) => Err(locked(path)),
        }
    }

    /// A follower of the in-progress file `file` (`len` bytes): read-only,
    /// its ranges from the record and the live region, then from the feed.
    fn follow(opts: &MmapOptions, file: File, len: u64) -> StorageResult<Option<Opened>> {
        let path = &opts.path;
        let id = sys::file_id(&file).ctx("fstat", path)?;
        let (feed, left) = match Subscriber::open(path, id) {
            Ok((sub, left)) => (Some(Feed::new(sub)), left),
            // No region to follow (a directory we cannot write, a damaged
            // region): a plain read-only view of what the record says.
            Err(_) => (None, None),
        };
        // Read the record after the region: a writer that committed deletes
        // the region only after recording the commit, so a follower that
        // found no region (and made a blank one) sees the commit here. Only
        // a record can make the file committed: without one the file is in
        // progress (it has a writer, or a record said so a moment ago), even
        // empty (its writer is creating it).
        let mut init = DriverState {
            read_only: true,
            ..DriverState::default()
        };
        match record::load(path, &file, len) {
            Ok(rec) => {
                init.available = rec.available;
                init.final_len = rec.final_len;
                init.meta = rec.meta;
            }
            Err(why) => {
                if len > 0 {
                    init.recovery = why;
                }
            }
        }
        if init.final_len.is_none() {
            if let Some(left) = left {
                for range in left.ranges {
                    init.available.insert(range);
                }
                init.final_len = left.final_len;
            }
            init.feed = feed;
        }
        let mut opened = Opened::new(init, None);
        opened.followed = Some(file);
        Ok(Some(opened))
    }

    /// A driver over `file`, an empty file the caller just created
    /// exclusively at `path` and holds, locked (the temp of an
    /// [`AtomicChunked`](crate::AtomicChunked), whose claim is its writer's
    /// lock): grown to `len` bytes, sparse, active, without a record; a write
    /// after a commit reopens it.
    ///
    /// The caller's descriptor is used, never the path: nothing put at the
    /// path meanwhile is opened instead.
    pub(crate) fn on_new_file(
        file: File,
        path: PathBuf,
        len: u64,
    ) -> StorageResult<(Self, DriverState)> {
        let main = MappedFile::create(file, &path, len)?;
        let init = DriverState {
            reopen_on_write: true,
            ..DriverState::default()
        };
        let mut opened = Opened::new(init, Some(main));
        opened.created = true;
        Ok(Self::from_opened(
            path,
            OpenMode::ReadWrite,
            false,
            true,
            opened,
        ))
    }

    /// A driver over `file`, a file the caller wrote and renamed to `path`
    /// (an [`AtomicChunked`](crate::AtomicChunked) commit): committed at its
    /// length, read-only if `read_only`; a rewrite after `reactivate` takes
    /// the writer's lock and is a new generation beside it, as for any
    /// committed file.
    pub(crate) fn on_committed_file(
        file: File,
        path: PathBuf,
        read_only: bool,
    ) -> StorageResult<(Self, DriverState)> {
        let main = MappedFile::open(file, &path, false)?;
        let init = DriverState {
            final_len: Some(main.len()),
            read_only,
            ..DriverState::default()
        };
        let mode = if read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::Auto
        };
        let opened = Opened::new(init, Some(main));
        Ok(Self::from_opened(path, mode, false, false, opened))
    }

    /// The driver of what an open produced; `claimed`: the writer's lock is
    /// the caller's.
    fn from_opened(
        path: PathBuf,
        mode: OpenMode,
        persist_ranges: bool,
        claimed: bool,
        opened: Opened,
    ) -> (Self, DriverState) {
        // Existing bytes count as written: large writes over them are copies.
        let written_end = if opened.created {
            0
        } else {
            opened.main.as_ref().map_or(0, MappedFile::len)
        };
        let follower = opened.followed.is_some();
        let driver = Self {
            path,
            mode,
            persist: persist_ranges && !follower,
            files: RwLock::new(Files {
                main: opened.main,
                rewrite: None,
                closed: false,
                damaged: false,
                lock: opened.lock,
                followed: opened.followed,
            }),
            unpersisted: AtomicU64::new(0),
            written_end: AtomicU64::new(written_end),
            epoch: AtomicU64::new(0),
            record: Mutex::new(()),
            live: Mutex::new(opened.live),
            claimed,
        };
        (driver, opened.init)
    }
}

impl Driver for MmapDriver {
    type Options = MmapOptions;

    fn open(opts: MmapOptions) -> StorageResult<(Self, DriverState)> {
        for _ in 0..OPEN_ATTEMPTS {
            if let Some(opened) = Self::open_once(&opts)? {
                return Ok(Self::from_opened(
                    opts.path,
                    opts.mode,
                    opts.persist_ranges,
                    false,
                    opened,
                ));
            }
        }
        Err(StorageError::io(
            std::io::Error::other("the file kept changing while it was opened"),
            "open",
            Some(opts.path),
        ))
    }
}

/// Opens `path` again for writing; `None` if it is no longer the file
/// `read` (which the range record was loaded for): look again.
fn reopen_writable(read: &File, path: &Path) -> StorageResult<Option<File>> {
    let (rw, _) = match open_existing_file(path, true) {
        Err(e) if e.errno() == Some(ENOENT) => return Ok(None),
        other => other?,
    };
    let same = matches!(
        (sys::file_id(read), sys::file_id(&rw)),
        (Ok(a), Ok(b)) if a.same_file(&b)
    );
    Ok(same.then_some(rw))
}

impl MmapDriver {
    fn check(&self, f: &Files, syscall: &'static str) -> StorageResult<()> {
        if f.closed {
            return Err(StorageError::Closed);
        }
        if f.damaged {
            return Err(eio(&self.path, syscall));
        }
        Ok(())
    }

    /// After a fault showed that someone else truncated the file under the
    /// mapping (or a size check found it shorter than this handle knows):
    /// drop the mappings, and answer every data access and commit with `EIO`
    /// until `reactivate` maps the file afresh, when the resource forgets
    /// every range it had ([`lost`](DriverIo::lost)). Bytes the cut took
    /// are never claimed, and never committed as zeros.
    fn mark_damaged(&self) {
        let mut f = self.files.write();
        if let Some(main) = &mut f.main {
            main.unmap();
        }
        f.damaged = true;
    }

    /// Publishes `range` of the first generation, whose bytes are in the file
    /// now, to other processes (with persisted ranges). A region that cannot
    /// grow fails the write: nothing claims a range nobody could follow.
    fn publish(&self, range: std::ops::Range<u64>) -> StorageResult<()> {
        if !self.persist {
            return Ok(());
        }
        match self.live.lock().as_mut() {
            Some(live) => live.publish(range),
            None => Ok(()),
        }
    }

    /// Takes the writer's lock before this handle first writes, if it has
    /// not got it (an `Auto` handle that opened a committed file).
    fn ensure_lock(&self, f: &mut Files) -> StorageResult<()> {
        if self.claimed || f.lock.is_some() {
            return Ok(());
        }
        let Some(main) = &f.main else {
            return Ok(());
        };
        match WriterLock::try_acquire(&self.path, main.file())? {
            Acquired::Held(lock) => {
                f.lock = Some(lock);
                Ok(())
            }
            // Busy, or our file is no longer at the path: either way the
            // path has another writer now.
            Acquired::Busy | Acquired::Replaced => Err(locked(&self.path)),
        }
    }

    /// Bookkeeping after a successful write of `n` bytes at `offset`.
    fn note_written(&self, offset: u64, n: usize) {
        self.written_end
            .fetch_max(offset + n as u64, Ordering::Relaxed);
        if self.persist {
            self.unpersisted.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Creates the file of a new generation beside the data file, `len`
    /// bytes, sparse, named for its `purpose` (`next` for a rewrite, `atomic`
    /// for a [`replace`](DriverIo::replace)).
    ///
    /// What it will replace follows [`temp::replaced`]: through a symlink at
    /// the path, never over a file with several hard links, with the replaced
    /// file's mode (and owner where permitted).
    fn create_next(&self, len: u64, purpose: &str) -> StorageResult<Next> {
        let replaced = temp::replaced(&self.path)?;
        let (file, name) = temp::create_beside(&replaced.target, purpose)?;
        replaced.carry_over(&file, name.path())?;
        let file = MappedFile::create(file, name.path(), len)?;
        Ok(Next {
            file,
            name: Some(name),
            target: replaced.target,
            written: RangeSet::new(),
        })
    }

    /// Makes the next generation the committed file: sets its length,
    /// renames it over the data file, maps it read-only.
    fn swap_in(&self, f: &mut Files, final_len: u64) -> StorageResult<()> {
        let locking = f.lock.is_some();
        let Some(next) = f.rewrite.as_mut().and_then(|rw| rw.next.as_mut()) else {
            return Ok(());
        };
        if next.file.len() != final_len {
            next.file.set_len(final_len)?;
        }
        let Some(name) = next.name.take() else {
            return Err(StorageError::Closed);
        };
        // The lock moves with the file: the new one is locked before it is
        // at the path, the old one let go after.
        let moved = if locking {
            match WriterLock::for_temp(name.path(), next.file.file(), &self.path) {
                Ok(lock) => Some(lock),
                Err(e) => {
                    next.name = Some(name);
                    return Err(e);
                }
            }
        } else {
            None
        };
        if let Err((e, name)) = name.persist(&next.target) {
            next.name = Some(name);
            return Err(e);
        }
        if moved.is_some() {
            f.lock = moved;
        }
        let mut next = f
            .rewrite
            .take()
            .and_then(|rw| rw.next)
            .ok_or(StorageError::Closed)?;
        next.file.moved_to(&self.path);
        next.file.seal()?;
        // The old committed file goes: its mapping and descriptor close here.
        f.main = Some(next.file);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// [`commit`](DriverIo::commit) without the bookkeeping of a cut file.
    ///
    /// Never while damaged (`EIO`): a cut file's missing bytes would be
    /// committed as zeros. Every file whose bytes the commit claims is
    /// checked for a cut first.
    fn commit_files(&self, final_len: u64) -> StorageResult<()> {
        {
            let f = self.files.read();
            self.check(&f, "write")?;
            self.fill_next(&f, final_len)?;
        }
        let mut f = self.files.write();
        self.check(&f, "write")?;
        if f.rewrite.is_none() {
            if let Some(main) = f.main.as_ref().filter(|m| !m.writable()) {
                // A commit of committed bytes: never in place either.
                f.rewrite = Some(Rewrite {
                    base_len: main.len(),
                    keep: true,
                    next: None,
                });
            }
        }
        let rewrite = f
            .rewrite
            .as_ref()
            .map(|rw| (rw.next.is_some(), rw.keep, rw.base_len));
        match rewrite {
            Some((false, keep, base_len)) => {
                if keep {
                    if let Some(main) = &f.main {
                        main.check_not_cut()?;
                    }
                }
                let unchanged = f.main.as_ref().map_or(0, MappedFile::len) == final_len;
                if unchanged && keep {
                    f.rewrite = None;
                } else {
                    self.ensure_lock(&mut f)?;
                    // A new length is a new generation too: the committed
                    // file is never changed in place.
                    let next = self.create_next(final_len, "next")?;
                    if keep {
                        if let Some(main) = &f.main {
                            next.file.copy_from(main, 0..base_len.min(final_len))?;
                        }
                    }
                    if let Some(rw) = &mut f.rewrite {
                        rw.next = Some(next);
                    }
                    self.swap_in(&mut f, final_len)?;
                }
            }
            Some((true, ..)) => self.swap_in(&mut f, final_len)?,
            None => {
                let Some(main) = &mut f.main else {
                    return Err(StorageError::Closed);
                };
                main.check_not_cut()?;
                if main.len() != final_len {
                    main.set_len(final_len)?;
                }
                main.seal()?;
                if let Some(live) = self.live.lock().as_mut() {
                    live.commit(final_len);
                }
            }
        }
        self.written_end.store(final_len, Ordering::Relaxed);
        Ok(())
    }

    /// Copies the committed bytes the new generation did not overwrite into
    /// it, up to `final_len`. Under the read lock: readers go on meanwhile.
    fn fill_next(&self, f: &Files, final_len: u64) -> StorageResult<()> {
        let (Some(rw), Some(main)) = (&f.rewrite, &f.main) else {
            return Ok(());
        };
        let Some(next) = &rw.next else {
            return Ok(());
        };
        if !rw.keep {
            return Ok(());
        }
        // A cut committed file would be copied as zeros.
        main.check_not_cut()?;
        let keep = 0..rw.base_len.min(final_len);
        for gap in next.written.gaps(&keep) {
            next.file.copy_from(main, gap)?;
        }
        Ok(())
    }
}

impl DriverIo for MmapDriver {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let f = self.files.read();
        self.check(&f, "read")?;
        if let Some(file) = &f.followed {
            return sys::read_at(file, buf, offset).ctx("read", &self.path);
        }
        let read = match &f.rewrite {
            Some(rw) if offset < rw.base_len => {
                // One generation per read: stop at the committed end.
                let n = usize::try_from(rw.base_len - offset)
                    .map_or(buf.len(), |left| left.min(buf.len()));
                match &f.main {
                    Some(main) => main.read(offset, &mut buf[..n]),
                    None => Ok(0),
                }
            }
            Some(rw) => match &rw.next {
                Some(next) => next.file.read(offset, buf),
                None => Ok(0),
            },
            None => match &f.main {
                Some(main) => main.read(offset, buf),
                None => Ok(0),
            },
        };
        match read {
            Ok(n) => Ok(n),
            Err(e) => {
                let fault = e.raw_os_error() == Some(EIO) || file::is_cut(&e);
                drop(f);
                if fault {
                    self.mark_damaged();
                }
                Err(StorageError::io(e, "read", Some(self.path.clone())))
            }
        }
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let end = offset + data.len() as u64;
        // Large writes into fresh territory (past every byte written so far)
        // go to the file; rewrites of written pages are cheaper as a copy.
        let direct =
            data.len() >= DIRECT_WRITE_MIN && end > self.written_end.load(Ordering::Relaxed);
        if direct {
            // Fits already: the file write needs only the read lock, so
            // readers of the mapping go on meanwhile.
            let f = self.files.read();
            self.check(&f, "write")?;
            if f.rewrite.is_none() {
                if let Some(target) = f.write_target().filter(|t| end <= t.len()) {
                    if let Err(e) = target.write_file(offset, data) {
                        drop(f);
                        if file::was_cut(&e) {
                            self.mark_damaged();
                        }
                        return Err(e);
                    }
                    self.note_written(offset, data.len());
                    return self.publish(offset..end);
                }
            }
        }
        let mut f = self.files.write();
        self.check(&f, "write")?;
        if let Some(rw) = &mut f.rewrite {
            if rw.next.is_none() {
                rw.next = Some(self.create_next(end.max(rw.base_len), "next")?);
                self.written_end.store(0, Ordering::Relaxed);
            }
        }
        let files = &mut *f;
        let (target, written) = match &mut files.rewrite {
            Some(Rewrite {
                next: Some(next), ..
            }) => (&mut next.file, Some(&mut next.written)),
            _ => match &mut files.main {
                Some(main) => (main, None),
                None => return Err(StorageError::Closed),
            },
        };
        let grown = if end > target.len() {
            target.grow(end, DEFAULT_INITIAL_LEN)
        } else {
            Ok(())
        };
        let result = grown.and_then(|()| {
            if direct {
                target.write_file(offset, data)
            } else {
                target.write_mapped(offset, data)
            }
        });
        match result {
            Ok(()) => {
                let first_generation = written.is_none();
                if let Some(written) = written {
                    written.insert(offset..end);
                }
                drop(f);
                self.note_written(offset, data.len());
                if first_generation {
                    self.publish(offset..end)?;
                }
                Ok(())
            }
            Err(e) => {
                // A fault on the mapping, or the file found cut before a
                // growth or a `pwrite`: someone else truncated it.
                if file::was_cut(&e) || (!direct && is_eio(&e)) {
                    drop(f);
                    self.mark_damaged();
                }
                Err(e)
            }
        }
    }

    fn commit(&self, final_len: u64) -> StorageResult<()> {
        let result = self.commit_files(final_len);
        if result.as_ref().is_err_and(file::was_cut) {
            self.mark_damaged();
        }
        result
    }

    fn reactivate(&self) -> StorageResult<()> {
        let mut f = self.files.write();
        if f.closed {
            return Err(StorageError::Closed);
        }
        self.ensure_lock(&mut f)?;
        if f.damaged {
            // Mapped afresh, at the file's current size; the resource
            // forgets every range it had (see `lost`).
            if let Some(main) = &mut f.main {
                main.remap()?;
                self.written_end.store(main.len(), Ordering::Relaxed);
            }
            f.damaged = false;
        }
        let committed = f.main.as_ref().is_some_and(|m| !m.writable());
        if f.rewrite.is_none() && committed {
            let base_len = f.main.as_ref().map_or(0, MappedFile::len);
            f.rewrite = Some(Rewrite {
                base_len,
                keep: true,
                next: None,
            });
        }
        Ok(())
    }

    fn replace(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        let len = data.len() as u64;
        {
            let mut f = self.files.write();
            if f.closed {
                // Not `check`: a whole new content heals a cut file.
                return Err(StorageError::Closed);
            }
            self.ensure_lock(&mut f)?;
        }
        // Written and synced outside the lock: nobody sees it until the swap.
        let mut next = self.create_next(len, "atomic")?;
        next.file.write_file(0, data)?;
        next.written.insert(0..len);
        let target = next.target.clone();
        if durable {
            let (map, handle) = next.file.sync_handles();
            file::sync(map.as_deref(), &handle, next.file.path())?;
        }
        let mut f = self.files.write();
        if f.closed {
            return Err(StorageError::Closed);
        }
        let base_len = match &f.rewrite {
            Some(rw) => rw.base_len,
            None => f.main.as_ref().map_or(0, MappedFile::len),
        };
        let previous = f.rewrite.replace(Rewrite {
            base_len,
            keep: false,
            next: Some(next),
        });
        if let Err(e) = self.swap_in(&mut f, len) {
            // As before the call; dropping the new generation deletes it.
            f.rewrite = previous;
            return Err(e);
        }
        if let Some(live) = self.live.lock().as_mut() {
            // Followers of the file that was at the path learn it is gone.
            live.replaced();
        }
        f.damaged = false;
        self.written_end.store(len, Ordering::Relaxed);
        drop(f);
        if durable {
            // The rename itself, durable before the call returns.
            sys::sync_dir(temp::dir_of(&target));
        }
        Ok(())
    }

    fn close(&self) {
        let mut f = self.files.write();
        f.main = None;
        f.followed = None;
        // Deletes a next generation that was never committed.
        f.rewrite = None;
        f.closed = true;
        // The region stays (followers and the next writer need it).
        *self.live.lock() = None;
        // Last: the next writer may start as soon as it is let go.
        f.lock = None;
    }

    fn flush(&self) -> StorageResult<()> {
        let handles: Vec<_> = {
            let f = self.files.read();
            let next = f.rewrite.as_ref().and_then(|rw| rw.next.as_ref());
            f.main
                .iter()
                .chain(next.map(|n| &n.file))
                .map(|m| {
                    let (map, file) = m.sync_handles();
                    (map, file, m.path().to_path_buf())
                })
                .collect()
        };
        // Outside the lock: readers and writers go on while the disk works.
        for (map, file, path) in handles {
            file::sync(map.as_deref(), &file, &path)?;
        }
        Ok(())
    }

    fn persist_ranges(
        &self,
        ranges: &RangeSet<u64>,
        committed: Option<u64>,
        epoch: u64,
        meta: &BTreeMap<String, String>,
    ) -> StorageResult<()> {
        if !self.persist {
            return Ok(());
        }
        let _serial = self.record.lock();
        let (file, record) = {
            let f = self.files.read();
            if epoch != self.epoch.load(Ordering::Acquire) {
                // The ranges are those of a file that is no longer at the path.
                return Ok(());
            }
            let Some(main) = &f.main else {
                return Ok(());
            };
            let record = match &f.rewrite {
                // While the next generation is written, the file at the path
                // is the committed one, whole.
                Some(rw) => Record {
                    available: std::iter::once(0..rw.base_len)
                        .filter(|r| !r.is_empty())
                        .collect(),
                    final_len: Some(rw.base_len),
                    meta: meta.clone(),
                },
                None => Record {
                    available: ranges.clone(),
                    final_len: committed,
                    meta: meta.clone(),
                },
            };
            (std::sync::Arc::clone(main.file()), record)
        };
        self.unpersisted.store(0, Ordering::Relaxed);
        let stored = record::store(&self.path, &file, &record)?;
        if stored && record.final_len.is_some() {
            // The record says committed: nobody needs the live region now.
            if let Some(live) = self.live.lock().take() {
                live.retire();
            }
        }
        Ok(())
    }

    fn checkpoint_due(&self) -> bool {
        self.persist && self.unpersisted.load(Ordering::Relaxed) >= CHECKPOINT_BYTES
    }

    fn lost(&self) -> bool {
        self.files.read().damaged
    }

    fn persists_ranges(&self) -> bool {
        self.persist
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}
