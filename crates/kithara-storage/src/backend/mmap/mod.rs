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
#![deny(unsafe_code)]

mod file;

use std::{
    collections::BTreeMap,
    fs::{self, File},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use parking_lot::{Mutex, RwLock};
use rangemap::RangeSet;

use self::file::MappedFile;
use super::{
    record::{self, Record},
    Driver, DriverIo, DriverState, Resource,
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

impl Driver for MmapDriver {
    type Options = MmapOptions;

    fn open(opts: MmapOptions) -> StorageResult<(Self, DriverState)> {
        // A file that appears between our look and our create: look again.
        for _ in 0..3 {
            if let Some(opened) = Self::try_open(&opts)? {
                return Ok(opened);
            }
        }
        Err(StorageError::io(
            std::io::ErrorKind::AlreadyExists.into(),
            "open",
            Some(opts.path),
        ))
    }
}

impl MmapDriver {
    /// One attempt of [`open`](Driver::open): `Ok(None)` if the file at the
    /// path appeared or went away while it looked.
    ///
    /// Only regular files open (see [`sys::check_regular`]): a FIFO, a
    /// socket, a device or a kernel file fails at once, before any `open(2)`
    /// that could block. A file this open creates or lengthens is removed or
    /// emptied again if the open fails later (say, writing the first record).
    fn try_open(opts: &MmapOptions) -> StorageResult<Option<(Self, DriverState)>> {
        let MmapOptions {
            path,
            initial_len,
            mode,
            persist_ranges,
        } = opts.clone();
        let exists = match fs::metadata(&path) {
            Ok(meta) => {
                sys::check_regular_meta(&meta).ctx("open", &path)?;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(StorageError::io(e, "stat", Some(path))),
        };
        let mut reuse = None;
        if exists {
            let (file, stat) = match open_existing_file(&path, false) {
                Err(e) if e.errno() == Some(ENOENT) => return Ok(None),
                other => other?,
            };
            let existing_len = stat.len();
            match open_existing(&file, &path, existing_len, mode, persist_ranges) {
                Some(existing) => {
                    let file = if existing.writable {
                        reopen_writable(&file, &path)?
                    } else {
                        file
                    };
                    let main = MappedFile::open(file, &path, existing.writable)?;
                    let driver = Self::new(path, mode, persist_ranges, Some(main));
                    driver.written_end.store(existing_len, Ordering::Relaxed);
                    return Ok(Some((driver, existing.init)));
                }
                // Empty, and nothing recorded: start it afresh, in place.
                None => reuse = Some(reopen_writable(&file, &path)?),
            }
        }
        if reuse.is_none() && mode == OpenMode::ReadOnly {
            let init = DriverState {
                read_only: true,
                final_len: Some(0),
                ..DriverState::default()
            };
            return Ok(Some((Self::new(path, mode, persist_ranges, None), init)));
        }
        let (file, made) = match reuse {
            Some(file) => (file, Made::Grown),
            None => match create_file(&path)? {
                Some(created) => created,
                None => return Ok(None),
            },
        };
        let len = initial_len.unwrap_or(DEFAULT_INITIAL_LEN);
        let started = file.try_clone().ctx("open", &path).and_then(|mine| {
            let main = MappedFile::create(mine, &path, len)?;
            if persist_ranges {
                // An empty record bound to this file: if we die before the
                // first checkpoint, the reopen claims nothing.
                record::store(&path, main.file(), &Record::default())?;
            }
            Ok(main)
        });
        let main = match started {
            Ok(main) => main,
            Err(e) => {
                made.undo(&path, &file);
                return Err(e);
            }
        };
        let init = DriverState {
            reopen_on_write: mode == OpenMode::ReadWrite,
            ..DriverState::default()
        };
        Ok(Some((
            Self::new(path, mode, persist_ranges, Some(main)),
            init,
        )))
    }

    /// A driver over `file`, an empty file the caller just created
    /// exclusively at `path` and holds (the temp of an
    /// [`AtomicChunked`](crate::AtomicChunked)): grown to `len` bytes, sparse,
    /// active, without a record; a write after a commit reopens it.
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
        let driver = Self::new(path, OpenMode::ReadWrite, false, Some(main));
        Ok((driver, init))
    }

    /// A driver over `file`, a file the caller wrote and renamed to `path`
    /// (an [`AtomicChunked`](crate::AtomicChunked) commit): committed at its
    /// length, read-only if `read_only`; a rewrite after `reactivate` is a
    /// new generation beside it, as for any committed file.
    pub(crate) fn on_committed_file(
        file: File,
        path: PathBuf,
        read_only: bool,
    ) -> StorageResult<(Self, DriverState)> {
        let main = MappedFile::open(file, &path, false)?;
        let len = main.len();
        let mode = if read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::Auto
        };
        let init = DriverState {
            final_len: Some(len),
            read_only,
            ..DriverState::default()
        };
        let driver = Self::new(path, mode, false, Some(main));
        driver.written_end.store(len, Ordering::Relaxed);
        Ok((driver, init))
    }

    fn new(path: PathBuf, mode: OpenMode, persist: bool, main: Option<MappedFile>) -> Self {
        Self {
            path,
            mode,
            persist,
            files: RwLock::new(Files {
                main,
                rewrite: None,
                closed: false,
                damaged: false,
            }),
            unpersisted: AtomicU64::new(0),
            written_end: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            record: Mutex::new(()),
        }
    }
}

/// Opens `path` again for writing, and checks that it is still the file
/// `read` (which the range record was loaded for).
fn reopen_writable(read: &File, path: &Path) -> StorageResult<File> {
    let (rw, _) = open_existing_file(path, true)?;
    let same = matches!(
        (sys::file_id(read), sys::file_id(&rw)),
        (Ok(a), Ok(b)) if a.same_file(&b)
    );
    if !same {
        return Err(StorageError::io(
            std::io::Error::other("the file was replaced while it was opened"),
            "open",
            Some(path.to_path_buf()),
        ));
    }
    Ok(rw)
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
        let Some(next) = f.rewrite.as_mut().and_then(|rw| rw.next.as_mut()) else {
            return Ok(());
        };
        if next.file.len() != final_len {
            next.file.set_len(final_len)?;
        }
        let Some(name) = next.name.take() else {
            return Err(StorageError::Closed);
        };
        if let Err((e, name)) = name.persist(&next.target) {
            next.name = Some(name);
            return Err(e);
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
                    return Ok(());
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
                if let Some(written) = written {
                    written.insert(offset..end);
                }
                drop(f);
                self.note_written(offset, data.len());
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
        if self.files.read().closed {
            // Not `check`: a whole new content heals a cut file.
            return Err(StorageError::Closed);
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
        // Deletes a next generation that was never committed.
        f.rewrite = None;
        f.closed = true;
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
        record::store(&self.path, &file, &record).map(drop)
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
