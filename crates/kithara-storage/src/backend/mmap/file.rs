//! [`MappedFile`]: one open file, its mapping, and which of its pages this
//! handle knows to hold disk blocks.
//!
//! # Sparse growth
//!
//! The file grows with `set_len` only, so its length costs no disk. Disk is
//! spent only on the pages a write touches, and a page gets its blocks from a
//! `pwrite`, never from a page fault:
//!
//! - a write that touches a page not known to hold blocks goes to the file
//!   with `pwrite`, widened to whole pages (the bytes around it are read and
//!   written back unchanged), which allocates as it writes and reports ENOSPC
//!   as an error. Afterwards its pages hold blocks;
//! - only writes whose pages all hold blocks are copied into the mapping, so
//!   a page fault never needs a new block (which on a full disk is SIGBUS).
//!   `fallocate` is not enough for that: on a nearly full ext4, a store
//!   through the mapping into fallocated (unwritten) blocks still raises
//!   SIGBUS, while one into written blocks does not;
//! - a writer going in order (its write starts in the page after one that
//!   holds blocks, and runs into holes) gets blocks for up to
//!   [`AHEAD`] more bytes of the holes after it in the same `pwrite`, as
//!   zeros, so its next writes are copies into the mapping instead of one
//!   system call per page. Those zeros are never claimed (the ranges say
//!   what is written), and a commit cuts what lies past the final length.
//!   If the widened `pwrite` fails (a disk nearly full, a file size limit),
//!   its blocks are given back and the write is tried alone;
//! - if the `pwrite` fails, the pages of its range that were holes before are
//!   punched out again (ext4 keeps what a partial write allocated), so a
//!   failed write leaves no blocks behind. Pages that held data before are
//!   never punched. Which pages are holes is known without asking the file
//!   system on every write: this handle is the file's only writer, so what
//!   the file system reported at open plus what it wrote since is exact.
//!
//! Reads of pages that are not known to hold blocks use `pread` instead of the
//! mapping: a file system such as tmpfs allocates a page when a hole is read
//! through a shared mapping, and a full one raises SIGBUS instead.
//!
//! Concurrency: the driver holds its mapping lock around every call (read for
//! [`read`](MappedFile::read) and [`write_file`](MappedFile::write_file), write for
//! everything that takes `&mut self`), and the resource serializes all writes
//! under its state lock, so `blocks` is only contended by readers.
#![deny(unsafe_code)]

use std::{
    fs::File,
    io,
    ops::Range,
    path::{Path, PathBuf},
    ptr,
    sync::Arc,
};

use memmap2::MmapRaw;
use parking_lot::RwLock;
use rangemap::RangeSet;

use crate::{
    error::{refusal, refused_errno, IoContext},
    sys, StorageError, StorageResult,
};

/// How far past an in-order writer's write its `pwrite` reserves blocks
/// (see the module docs): one system call per this many bytes, not per page.
const AHEAD: u64 = 256 * 1024;

/// `range` widened to whole pages.
fn pages_around(range: &Range<u64>) -> Range<u64> {
    let page = sys::page_size();
    let start = range.start / page * page;
    let end = range.end.div_ceil(page).saturating_mul(page);
    start..end
}

/// The whole pages inside `range`.
fn pages_within(range: &Range<u64>) -> Range<u64> {
    let page = sys::page_size();
    let start = range.start.div_ceil(page).saturating_mul(page);
    let end = range.end / page * page;
    start..end.max(start)
}

/// Which pages hold disk blocks. Known exactly because this handle is the
/// file's only writer: learned from the file system at open (and after a
/// commit), then kept up to date by every write.
#[derive(Debug, Default)]
struct Blocks {
    /// Pages that hold blocks: writes to them may go through the mapping.
    pages: RangeSet<u64>,
    /// Pages that hold *some* blocks (a file system block smaller than a
    /// page, seen at open): never punched, and written with `pwrite`.
    partial: RangeSet<u64>,
}

impl Blocks {
    /// From the data ranges the file system reports (`None`: it cannot tell,
    /// so every page of `len` bytes is taken to hold blocks).
    fn learn(data: Option<Vec<Range<u64>>>, len: u64) -> Self {
        let Some(data) = data else {
            return Self {
                pages: std::iter::once(pages_around(&(0..len))).collect(),
                partial: RangeSet::new(),
            };
        };
        let mut blocks = Self::default();
        for d in &data {
            let within = pages_within(d);
            if !within.is_empty() {
                blocks.pages.insert(within);
            }
            blocks.partial.insert(pages_around(d));
        }
        for whole in blocks.pages.iter().cloned().collect::<Vec<_>>() {
            blocks.partial.remove(whole);
        }
        blocks
    }

    fn covers(&self, range: &Range<u64>) -> bool {
        range.is_empty() || self.pages.gaps(range).next().is_none()
    }

    /// The pages of `pages` without blocks: what a failed write there must
    /// give back.
    fn holes(&self, pages: &Range<u64>) -> Vec<Range<u64>> {
        let mut holes = RangeSet::new();
        for gap in self.pages.gaps(pages) {
            holes.insert(gap);
        }
        for partial in self.partial.overlapping(pages) {
            holes.remove(partial.clone());
        }
        holes.into_iter().collect()
    }

    /// Whether the page before `page_start` holds blocks: a write starting
    /// at `page_start` continues an in-order run.
    fn continues_run(&self, page_start: u64) -> bool {
        page_start
            .checked_sub(1)
            .is_some_and(|before| self.pages.contains(&before))
    }

    /// The end of the run of whole holes (no blocks, not even partly) that
    /// starts at `from`, at most `limit`; never before `from`.
    fn holes_end(&self, from: u64, limit: u64) -> u64 {
        if from >= limit {
            return from;
        }
        let window = from..limit;
        let first = |set: &RangeSet<u64>| {
            set.overlapping(&window)
                .next()
                .map_or(limit, |taken| taken.start.max(from))
        };
        first(&self.pages).min(first(&self.partial))
    }

    /// The file is now `len` bytes: pages past it are gone.
    fn truncate(&mut self, len: u64) {
        let kept = pages_around(&(0..len)).end;
        self.pages.remove(kept..u64::MAX);
        self.partial.remove(kept..u64::MAX);
    }

    /// `pages` now hold blocks (whole pages, just written).
    fn insert(&mut self, pages: Range<u64>) {
        self.partial.remove(pages.clone());
        self.pages.insert(pages);
    }
}

/// Gives back the blocks of `holes` after a failed write.
fn punch(file: &File, holes: &[Range<u64>]) {
    for hole in holes {
        // Best effort: the error that matters is the one being returned.
        let _ = sys::punch_hole(file, hole.start, hole.end - hole.start);
    }
}

/// One open file, mapped, with the pages it knows hold blocks.
pub(super) struct MappedFile {
    file: Arc<File>,
    map: Option<Arc<MmapRaw>>,
    len: u64,
    writable: bool,
    /// Where the file is, for error messages.
    path: PathBuf,
    blocks: RwLock<Blocks>,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

fn map(file: &File, path: &Path, len: u64, writable: bool) -> StorageResult<Option<Arc<MmapRaw>>> {
    if len == 0 {
        return Ok(None);
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(StorageError::io(
            io::ErrorKind::FileTooLarge.into(),
            "mmap",
            Some(path.to_path_buf()),
        ));
    };
    let mut opts = memmap2::MmapOptions::new();
    opts.len(len);
    let map = if writable {
        opts.map_raw(file)
    } else {
        opts.map_raw_read_only(file)
    };
    Ok(Some(Arc::new(map.ctx("mmap", path)?)))
}

impl MappedFile {
    /// Maps an existing file at its current length; learns which of its pages
    /// hold blocks from the file system (all of them, if it cannot tell).
    pub(super) fn open(file: File, path: &Path, writable: bool) -> StorageResult<Self> {
        if writable {
            sys::make_sparse(&file).ctx("fsctl", path)?;
        }
        let len = file.metadata().ctx("fstat", path)?.len();
        let blocks = Blocks::learn(sys::data_ranges(&file, 0..len), len);
        Ok(Self {
            map: map(&file, path, len, writable)?,
            file: Arc::new(file),
            len,
            writable,
            path: path.to_path_buf(),
            blocks: RwLock::new(blocks),
        })
    }

    /// Makes an empty, writable `file` `len` bytes long, sparse, and maps it.
    pub(super) fn create(file: File, path: &Path, len: u64) -> StorageResult<Self> {
        sys::make_sparse(&file).ctx("fsctl", path)?;
        file.set_len(len).ctx("ftruncate", path)?;
        Ok(Self {
            map: map(&file, path, len, true)?,
            file: Arc::new(file),
            len,
            writable: true,
            path: path.to_path_buf(),
            blocks: RwLock::new(Blocks::default()),
        })
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Mapped for writing (active), not sealed by a commit.
    pub(super) fn writable(&self) -> bool {
        self.writable
    }

    pub(super) fn file(&self) -> &Arc<File> {
        &self.file
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the file now lives at `path` (after a rename).
    pub(super) fn moved_to(&mut self, path: &Path) {
        self.path = path.to_path_buf();
    }

    /// What a checkpoint needs to make the written bytes durable.
    pub(super) fn sync_handles(&self) -> (Option<Arc<MmapRaw>>, Arc<File>) {
        (self.map.clone(), Arc::clone(&self.file))
    }

    /// Copies bytes at `offset` into `buf`; returns how many (up to the end
    /// of the file). `Err` with `EIO` if the file shrank under the mapping.
    pub(super) fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = usize::try_from(self.len - offset).map_or(buf.len(), |left| left.min(buf.len()));
        let buf = &mut buf[..n];
        let range = offset..offset + n as u64;
        let mapped = self.blocks.read().covers(&pages_around(&range));
        match &self.map {
            Some(map) if mapped => {
                // Both fit in usize: the mapping is `len` bytes.
                let start = offset as usize;
                let src = map.as_ptr();
                sys::guarded(|| {
                    #[allow(unsafe_code)]
                    // SAFETY: `start + n <= len == map.len()`, checked above;
                    // `map` stays mapped while we hold the Arc; `buf` is ours.
                    unsafe {
                        ptr::copy_nonoverlapping(src.add(start), buf.as_mut_ptr(), n);
                    }
                })?;
                Ok(n)
            }
            // Holes read as zeros through `pread`, allocating nothing. A
            // short read inside what we know of the file: someone cut it.
            _ => match sys::read_at(&self.file, buf, offset)? {
                got if got < n => Err(self.cut(offset + got as u64)),
                got => Ok(got),
            },
        }
    }

    /// The error for a file found shorter than this handle knows it
    /// (`len`): someone else truncated it. `EIO`, as a fault on the mapping
    /// reports it; [`is_cut`] tells it from a disk's `EIO`.
    fn cut(&self, now: u64) -> io::Error {
        refusal(
            sys::EIO,
            format!(
                "the file was cut to {now} bytes by someone else (this handle had {} bytes)",
                self.len
            ),
        )
    }

    /// Checks that nobody cut the file under this handle: its size must be
    /// at least what the handle knows. Called before the handle grows the
    /// file or writes with `pwrite` (either would silently fill the cut part
    /// with zeros that the resource then claims as written) and before a
    /// commit seals it.
    pub(super) fn check_not_cut(&self) -> StorageResult<()> {
        let now = sys::file_len(&self.file).ctx("fstat", &self.path)?;
        if now < self.len {
            return Err(StorageError::io(
                self.cut(now),
                "write",
                Some(self.path.clone()),
            ));
        }
        Ok(())
    }

    /// Writes `data` at `offset` (inside the file: grow first): through the
    /// mapping if every page it touches holds blocks already, else with
    /// [`write_file`](Self::write_file).
    pub(super) fn write_mapped(&mut self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let range = offset..offset + data.len() as u64;
        if !self.blocks.read().covers(&pages_around(&range)) {
            return self.write_file(offset, data);
        }
        let Some(map) = &self.map else {
            return Err(StorageError::Closed);
        };
        // Both fit in usize: `grow` checked the end against the mapping.
        let start = offset as usize;
        let dst = map.as_mut_ptr();
        sys::guarded(|| {
            #[allow(unsafe_code)]
            // SAFETY: `start + data.len() <= len == map.len()` (the caller grew
            // the file first); `&mut self` under the driver's write lock means
            // no other copy touches the mapping; the pages hold blocks.
            unsafe {
                ptr::copy_nonoverlapping(data.as_ptr(), dst.add(start), data.len());
            }
        })
        .ctx("write", &self.path)
    }

    /// Writes `data` at `offset` with `pwrite`, widened to whole pages where
    /// it touches pages without blocks (the bytes around it are read back and
    /// written unchanged), so every page it touches then holds blocks and
    /// later writes to it can go through the mapping. Needs only shared
    /// access: the mapping sees the bytes through the page cache. A failed
    /// write gives back the blocks it took in pages that were holes before.
    pub(super) fn write_file(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        self.check_not_cut()?;
        let range = offset..offset + data.len() as u64;
        let pages = pages_around(&range);
        let (holes, ahead) = {
            let blocks = self.blocks.read();
            if blocks.covers(&pages) {
                drop(blocks);
                return sys::write_all_at(&self.file, data, offset).ctx("write", &self.path);
            }
            let ahead = if blocks.continues_run(pages.start) {
                let limit = pages.end.saturating_add(AHEAD).min(self.len);
                blocks.holes_end(pages.end, limit)
            } else {
                pages.end
            };
            (blocks.holes(&(pages.start..ahead)), ahead)
        };
        if ahead > pages.end {
            let whole = pages.start..ahead;
            if self.write_widened(&whole, offset, data, pages.end).is_ok() {
                self.blocks.write().insert(whole);
                return Ok(());
            }
            // Too much for the disk or the size limit: give it all back and
            // write just this.
            punch(&self.file, &holes);
        }
        let whole = pages.start..pages.end.min(self.len);
        let result = if whole == range {
            sys::write_all_at(&self.file, data, offset)
        } else {
            self.write_widened(&whole, offset, data, whole.end)
        };
        if let Err(e) = result {
            punch(&self.file, &holes);
            return Err(StorageError::io(e, "write", Some(self.path.clone())));
        }
        self.blocks.write().insert(pages);
        Ok(())
    }

    /// `pwrite` of `whole` (a page-aligned range around `offset..`), with
    /// `data` at `offset` and the file's current bytes around it, up to
    /// `zeros_from` (holes from there on: zeros, not read).
    fn write_widened(
        &self,
        whole: &Range<u64>,
        offset: u64,
        data: &[u8],
        zeros_from: u64,
    ) -> io::Result<()> {
        let head = usize::try_from(offset - whole.start).unwrap_or(0);
        let tail_start = head + data.len();
        let len = usize::try_from(whole.end - whole.start).unwrap_or(tail_start);
        let tail_end = usize::try_from(zeros_from.min(whole.end) - whole.start).unwrap_or(len);
        let mut buf = vec![0u8; len];
        if head > 0 {
            sys::read_at(&self.file, &mut buf[..head], whole.start)?;
        }
        buf[head..tail_start].copy_from_slice(data);
        if tail_start < tail_end {
            let at = offset + data.len() as u64;
            sys::read_at(&self.file, &mut buf[tail_start..tail_end], at)?;
        }
        sys::write_all_at(&self.file, &buf, whole.start)
    }

    /// Lengthens the file (sparse) and its mapping to at least `end`: double
    /// the current length, or `end` if that is more.
    pub(super) fn grow(&mut self, end: u64, min_len: u64) -> StorageResult<()> {
        let doubled = if self.len == 0 {
            min_len
        } else {
            self.len.saturating_mul(2)
        };
        self.set_len(end.max(doubled))
    }

    /// Sets the file's length (sparse when longer) and maps it afresh.
    pub(super) fn set_len(&mut self, len: u64) -> StorageResult<()> {
        if usize::try_from(len).is_err() {
            return Err(StorageError::io(
                io::ErrorKind::FileTooLarge.into(),
                "mmap",
                Some(self.path.clone()),
            ));
        }
        self.check_not_cut()?;
        self.map = None;
        if len != self.len {
            self.file.set_len(len).ctx("ftruncate", &self.path)?;
        }
        if len < self.len {
            self.blocks.write().truncate(len);
        }
        self.len = len;
        self.map = map(&self.file, &self.path, len, self.writable)?;
        Ok(())
    }

    /// Maps the file afresh at its current length, read-only; learns its
    /// blocks again (for after a copy or a rename).
    pub(super) fn seal(&mut self) -> StorageResult<()> {
        self.map = None;
        self.writable = false;
        self.len = self.file.metadata().ctx("fstat", &self.path)?.len();
        *self.blocks.write() = Blocks::learn(sys::data_ranges(&self.file, 0..self.len), self.len);
        self.map = map(&self.file, &self.path, self.len, false)?;
        Ok(())
    }

    /// Drops the mapping (after the file shrank under it); reads fail until
    /// [`remap`](Self::remap).
    pub(super) fn unmap(&mut self) {
        self.map = None;
    }

    /// Maps the file afresh at its current length, keeping its access mode.
    pub(super) fn remap(&mut self) -> StorageResult<()> {
        self.map = None;
        self.len = self.file.metadata().ctx("fstat", &self.path)?.len();
        self.blocks.write().truncate(self.len);
        self.map = map(&self.file, &self.path, self.len, self.writable)?;
        Ok(())
    }

    /// Copies into `self` the bytes of `from` in `range`, skipping holes.
    /// Only before [`seal`](Self::seal), which learns the new blocks.
    pub(super) fn copy_from(&self, from: &MappedFile, range: Range<u64>) -> StorageResult<()> {
        if range.is_empty() {
            return Ok(());
        }
        sys::copy_range(&from.file, &self.file, range).ctx("write", &self.path)
    }
}

/// Whether `err` says a file was found cut (see `MappedFile::cut`).
pub(super) fn is_cut(err: &io::Error) -> bool {
    refused_errno(err) == Some(sys::EIO)
}

/// [`is_cut`] for a `StorageError`.
pub(super) fn was_cut(err: &StorageError) -> bool {
    matches!(err, StorageError::Io { source, .. } if is_cut(source))
}

/// Makes what was written through `map` and to `file` durable: msync, then
/// fdatasync (which also covers `pwrite`s and the file's length).
pub(super) fn sync(map: Option<&MmapRaw>, file: &File, path: &Path) -> StorageResult<()> {
    if let Some(map) = map {
        map.flush().ctx("msync", path)?;
    }
    file.sync_data().ctx("fsync", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_continues_after_a_page_with_blocks_only() {
        let page = sys::page_size();
        let blocks = Blocks::learn(Some(std::iter::once(0..page).collect()), 16 * page);
        assert!(blocks.continues_run(page));
        assert!(!blocks.continues_run(0), "the first page starts no run");
        assert!(!blocks.continues_run(2 * page), "after a hole");
    }

    #[test]
    fn the_window_ends_at_the_first_page_with_any_blocks() {
        let page = sys::page_size();
        // Pages 0 and 6 hold blocks; page 9 only partly (a block smaller
        // than a page, as a file system with 1 KiB blocks reports).
        let data = vec![0..page, 6 * page..7 * page, 9 * page + 512..9 * page + 1024];
        let blocks = Blocks::learn(Some(data), 32 * page);
        assert_eq!(blocks.holes_end(page, 5 * page), 5 * page, "all holes");
        assert_eq!(blocks.holes_end(page, 16 * page), 6 * page, "a whole page");
        assert_eq!(
            blocks.holes_end(7 * page, 16 * page),
            9 * page,
            "a partial page"
        );
        assert_eq!(blocks.holes_end(10 * page, 16 * page), 16 * page);
        assert_eq!(blocks.holes_end(16 * page, 16 * page), 16 * page);
        let run = Blocks::learn(Some(std::iter::once(0..3 * page).collect()), 32 * page);
        assert_eq!(run.holes_end(page, 8 * page), page, "inside blocks");
    }
}
