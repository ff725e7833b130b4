//! [`MmapDriver`]: a file mapped into memory with `memmap2`.
//!
//! The mapping is guarded by a read-write lock: reads copy out under the read
//! lock, writes copy in and growth remaps under the write lock, so no
//! reference into the mapping ever outlives a remap or a close. Growth first
//! reserves disk blocks (`fallocate`), so a full disk is an `Io` error at
//! write time, never a `SIGBUS` when a page is touched.
#![deny(unsafe_code)]

use std::{
    fs::{self, File, OpenOptions},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use memmap2::{Mmap, MmapMut};
use parking_lot::RwLock;
use rangemap::RangeSet;

use super::{sidecar, Driver, DriverIo, DriverState, Resource};

/// Runs a copy to or from the mapping; a `SIGBUS` during it (the file was
/// truncated by someone else) becomes `EIO`.
#[cfg(unix)]
use super::fault::guarded;

#[cfg(not(unix))]
fn guarded<T>(copy: impl FnOnce() -> T) -> std::io::Result<T> {
    // Windows refuses to truncate a mapped file, so the fault cannot happen.
    Ok(copy())
}
use crate::{error::IoContext, OpenMode, StorageError, StorageResult};

/// Size of a newly created file when `initial_len` is not given.
pub const DEFAULT_INITIAL_LEN: u64 = 64 * 1024;

#[cfg(unix)]
use libc::{EIO, EISDIR};
#[cfg(not(unix))]
const EIO: i32 = 5;
#[cfg(not(unix))]
const EISDIR: i32 = 21;

/// With persisted ranges, the record is refreshed after this many bytes are written.
const CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;

/// Options of a file-backed resource.
///
/// Built with [`MmapOptions::new`] and then field assignment, so fields added
/// later do not break callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MmapOptions {
    /// The backing file. Missing parent directories are created.
    pub path: PathBuf,
    /// Size of a newly created file; [`DEFAULT_INITIAL_LEN`] when `None`.
    /// Ignored for existing files.
    pub initial_len: Option<u64>,
    /// How an existing file is opened.
    pub mode: OpenMode,
    /// Keep the written ranges in `<path>.ranges` so an interrupted download
    /// reopens active with exactly the ranges it had.
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

enum Map {
    None,
    Ro(Mmap),
    Rw(MmapMut),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::None => &[],
            Map::Ro(m) => m,
            Map::Rw(m) => m,
        }
    }
}

struct Mapping {
    file: Option<File>,
    map: Map,
    closed: bool,
    /// The file was truncated under the mapping by someone else.
    damaged: bool,
}

/// The file-backed driver of [`MmapResource`].
pub struct MmapDriver {
    path: PathBuf,
    mode: OpenMode,
    persist: bool,
    mapping: RwLock<Mapping>,
    unpersisted: AtomicU64,
    /// End of the highest byte ever written (or present at open).
    written_end: AtomicU64,
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

fn map_ro(file: &File, path: &Path) -> StorageResult<Map> {
    if file.metadata().ctx("fstat", path)?.len() == 0 {
        return Ok(Map::None);
    }
    // SAFETY: the file is ours for the resource's lifetime; another process
    // truncating it is the one hazard of any file mapping, documented in the
    // crate README. The map is only read under the lock that remaps it.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(file) }.ctx("mmap", path)?;
    Ok(Map::Ro(map))
}

fn map_rw(file: &File, path: &Path) -> StorageResult<Map> {
    if file.metadata().ctx("fstat", path)?.len() == 0 {
        return Ok(Map::None);
    }
    // SAFETY: as in `map_ro`; writes go through `&mut` under the write lock.
    #[allow(unsafe_code)]
    let map = unsafe { MmapMut::map_mut(file) }.ctx("mmap", path)?;
    Ok(Map::Rw(map))
}

/// Writes of at least this many bytes go to the file with `pwrite`; smaller
/// ones are copied into the mapping, where a call costs no system call.
const DIRECT_WRITE_MIN: usize = 64 * 1024;

/// `pwrite` the whole of `data` at `offset`.
fn write_file_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(data, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < data.len() {
            done += file.seek_write(&data[done..], offset + done as u64)?;
        }
        Ok(())
    }
}

/// Extends `file` from `from` to `to` bytes with disk blocks reserved, so
/// writing through the mapping cannot hit a full disk.
fn reserve(file: &File, path: &Path, from: u64, to: u64) -> StorageResult<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::{fs::FallocateFlags, io::Errno};
        match rustix::fs::fallocate(file, FallocateFlags::empty(), from, to - from) {
            Ok(()) => return Ok(()),
            Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => {}
            Err(e) => {
                return Err(StorageError::io(
                    e.into(),
                    "fallocate",
                    Some(path.to_path_buf()),
                ))
            }
        }
    }
    fill_zeros(file, path, from, to)
}

/// Fallback reservation: write real zeros over the new tail.
fn fill_zeros(file: &File, path: &Path, from: u64, to: u64) -> StorageResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let zeros = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = usize::try_from(to - at).map_or(zeros.len(), |left| left.min(zeros.len()));
            file.write_all_at(&zeros[..n], at).ctx("write", path)?;
            at += n as u64;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        // NTFS allocates the clusters of a non-sparse file on extension.
        let _ = from;
        file.set_len(to).ctx("ftruncate", path)
    }
}

fn open_file(path: &Path, write: bool, create: bool) -> StorageResult<File> {
    if create {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).ctx("mkdir", parent)?;
        }
    }
    OpenOptions::new()
        .read(true)
        .write(write)
        .create(create)
        .truncate(false)
        .open(path)
        .ctx("open", path)
}

impl Driver for MmapDriver {
    type Options = MmapOptions;

    fn open(opts: MmapOptions) -> StorageResult<(Self, DriverState)> {
        let MmapOptions {
            path,
            initial_len,
            mode,
            persist_ranges,
        } = opts;
        let existing_len = match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                return Err(StorageError::io(
                    std::io::Error::from_raw_os_error(EISDIR),
                    "open",
                    Some(path),
                ))
            }
            Ok(meta) => Some(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StorageError::io(e, "stat", Some(path))),
        };
        let mut init = DriverState::default();
        let (file, map) = match (mode, existing_len) {
            (OpenMode::ReadOnly, None) => {
                init.read_only = true;
                init.final_len = Some(0);
                (None, Map::None)
            }
            (OpenMode::ReadOnly, Some(len)) => {
                init.read_only = true;
                init.final_len = Some(len);
                let file = open_file(&path, false, false)?;
                let map = map_ro(&file, &path)?;
                (Some(file), map)
            }
            (_, Some(len)) if len > 0 => {
                let recorded = if persist_ranges {
                    sidecar::load(&path, len)
                } else {
                    None
                };
                let writable = mode == OpenMode::ReadWrite
                    || recorded.as_ref().is_some_and(|r| r.final_len.is_none());
                init.reopen_on_write = mode == OpenMode::ReadWrite;
                match recorded {
                    Some(rec) => {
                        init.available = rec.available;
                        init.final_len = rec.final_len;
                    }
                    None => init.final_len = Some(len),
                }
                let file = open_file(&path, writable, false)?;
                let map = if writable {
                    map_rw(&file, &path)?
                } else {
                    map_ro(&file, &path)?
                };
                (Some(file), map)
            }
            _ => {
                // Missing or empty: create it active.
                init.reopen_on_write = mode == OpenMode::ReadWrite;
                let file = open_file(&path, true, true)?;
                let size = initial_len.unwrap_or(DEFAULT_INITIAL_LEN);
                if size > 0 {
                    reserve(&file, &path, 0, size)?;
                }
                if persist_ranges {
                    // An empty record: if we die before the first checkpoint,
                    // the reopen must not take the file for complete.
                    sidecar::store(&path, &RangeSet::new(), None)?;
                }
                let map = map_rw(&file, &path)?;
                (Some(file), map)
            }
        };
        let driver = Self {
            path,
            mode,
            persist: persist_ranges,
            mapping: RwLock::new(Mapping {
                file,
                map,
                closed: false,
                damaged: false,
            }),
            unpersisted: AtomicU64::new(0),
            written_end: AtomicU64::new(existing_len.unwrap_or(0)),
        };
        Ok((driver, init))
    }
}

impl MmapDriver {
    /// Makes the mapping writable, reopening the file for writing if needed.
    fn ensure_writable(&self, m: &mut Mapping) -> StorageResult<()> {
        if matches!(m.map, Map::Rw(_)) {
            return Ok(());
        }
        m.map = Map::None;
        let file = open_file(&self.path, true, true)?;
        m.map = map_rw(&file, &self.path)?;
        m.file = Some(file);
        Ok(())
    }

    /// After a fault showed that someone else truncated the file under the
    /// mapping: drop the mapping, and answer every data access with `EIO`
    /// until a commit or reactivate maps the file afresh.
    fn mark_damaged(&self, m: &mut Mapping) {
        m.map = Map::None;
        m.damaged = true;
    }

    fn check(&self, m: &Mapping, syscall: &'static str) -> StorageResult<()> {
        if m.closed {
            return Err(StorageError::Closed);
        }
        if m.damaged {
            return Err(StorageError::io(
                std::io::Error::from_raw_os_error(EIO),
                syscall,
                Some(self.path.clone()),
            ));
        }
        Ok(())
    }

    /// Writes a large piece with `pwrite` instead of through the mapping.
    ///
    /// The page cache is shared, so the mapping sees the bytes at once; but a
    /// fresh page written through the mapping costs a page fault each (and on
    /// ext4 an extent conversion per fault), which `pwrite` does in bulk.
    fn write_through_file(&self, m: &Mapping, offset: u64, data: &[u8]) -> StorageResult<()> {
        let file = m.file.as_ref().ok_or(StorageError::Closed)?;
        write_file_at(file, data, offset).ctx("write", &self.path)?;
        self.note_written(offset, data.len());
        Ok(())
    }

    /// Bookkeeping after a successful write of `n` bytes at `offset`.
    fn note_written(&self, offset: u64, n: usize) {
        self.written_end
            .fetch_max(offset + n as u64, Ordering::Relaxed);
        if self.persist {
            self.unpersisted.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Grows the file to hold `end` bytes: at least double, blocks reserved.
    fn grow(&self, m: &mut Mapping, end: u64) -> StorageResult<()> {
        let current = m.map.bytes().len() as u64;
        let doubled = if current == 0 {
            DEFAULT_INITIAL_LEN
        } else {
            current.saturating_mul(2)
        };
        let target = end.max(doubled);
        if usize::try_from(target).is_err() {
            return Err(StorageError::io(
                std::io::Error::from(std::io::ErrorKind::FileTooLarge),
                "mmap",
                Some(self.path.clone()),
            ));
        }
        let file = m.file.as_ref().ok_or(StorageError::Closed)?;
        let on_disk = file.metadata().ctx("fstat", &self.path)?.len();
        if target > on_disk {
            reserve(file, &self.path, on_disk, target)?;
        }
        m.map = Map::None;
        m.map = map_rw(file, &self.path)?;
        Ok(())
    }
}

impl DriverIo for MmapDriver {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let m = self.mapping.read();
        self.check(&m, "read")?;
        let bytes = m.map.bytes();
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= bytes.len() {
            return Ok(0);
        }
        let n = buf.len().min(bytes.len() - start);
        let copied = guarded(|| buf[..n].copy_from_slice(&bytes[start..start + n]));
        if let Err(e) = copied {
            drop(m);
            self.mark_damaged(&mut self.mapping.write());
            return Err(StorageError::io(e, "read", Some(self.path.clone())));
        }
        Ok(n)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let end = offset + data.len() as u64;
        // Large writes into fresh territory (past every byte written so far)
        // go to the file; rewrites of written pages are cheaper as a copy.
        let direct =
            data.len() >= DIRECT_WRITE_MIN && end > self.written_end.load(Ordering::Relaxed);
        if direct {
            // Fits the mapping already: the file write needs only the read
            // lock, so readers of the mapping go on meanwhile.
            let m = self.mapping.read();
            self.check(&m, "write")?;
            if matches!(m.map, Map::Rw(_)) && end <= m.map.bytes().len() as u64 {
                return self.write_through_file(&m, offset, data);
            }
        }
        let mut m = self.mapping.write();
        self.check(&m, "write")?;
        self.ensure_writable(&mut m)?;
        if end > m.map.bytes().len() as u64 {
            self.grow(&mut m, end)?;
        }
        if direct {
            return self.write_through_file(&m, offset, data);
        }
        let Map::Rw(map) = &mut m.map else {
            return Err(StorageError::Closed);
        };
        // Both fit in usize: `grow` checked `end`.
        let start = offset as usize;
        let copied = guarded(|| map[start..start + data.len()].copy_from_slice(data));
        if let Err(e) = copied {
            self.mark_damaged(&mut m);
            return Err(StorageError::io(e, "write", Some(self.path.clone())));
        }
        self.note_written(offset, data.len());
        Ok(())
    }

    fn commit(&self, final_len: u64) -> StorageResult<()> {
        let mut m = self.mapping.write();
        if m.closed {
            return Err(StorageError::Closed);
        }
        m.map = Map::None;
        // Reopen by path: a decorator may have renamed a new file into place.
        let file = match open_file(&self.path, true, false) {
            Ok(file) => file,
            Err(_) => match m.file.take() {
                Some(file) => file,
                None => open_file(&self.path, true, true)?,
            },
        };
        if file.metadata().ctx("fstat", &self.path)?.len() != final_len {
            file.set_len(final_len).ctx("ftruncate", &self.path)?;
        }
        m.map = map_ro(&file, &self.path)?;
        m.file = Some(file);
        m.damaged = false;
        Ok(())
    }

    fn reactivate(&self) -> StorageResult<()> {
        let mut m = self.mapping.write();
        if m.closed {
            return Err(StorageError::Closed);
        }
        // Mapped afresh below, at the file's current size.
        m.damaged = false;
        self.ensure_writable(&mut m)
    }

    fn close(&self) {
        let mut m = self.mapping.write();
        m.map = Map::None;
        m.file = None;
        m.closed = true;
    }

    fn flush(&self) -> StorageResult<()> {
        let m = self.mapping.read();
        if let Map::Rw(map) = &m.map {
            map.flush().ctx("msync", &self.path)?;
        }
        Ok(())
    }

    fn persist_ranges(&self, ranges: &RangeSet<u64>, committed: Option<u64>) -> StorageResult<()> {
        if !self.persist {
            return Ok(());
        }
        self.unpersisted.store(0, Ordering::Relaxed);
        sidecar::store(&self.path, ranges, committed)
    }

    fn checkpoint_due(&self) -> bool {
        self.persist && self.unpersisted.load(Ordering::Relaxed) >= CHECKPOINT_BYTES
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }
}
