//! The live region `<path>.live`: the ranges a writer publishes to other
//! processes as it writes them, for followers (who follow it live) and for
//! the next writer after a crash (who resumes from it).
//!
//! # What it is, and when it is believed
//!
//! A small file beside the data file, mapped shared by the writer
//! ([`Publisher`]) and every follower ([`Subscriber`]). It describes the data
//! file's page cache, not its disk: a range in it holds written bytes as long
//! as the machine has not restarted, whether or not they were flushed. So it
//! is believed only for the data file whose identity it carries, and only
//! within the boot it stamps (`sys::boot_id`). After a reboot, or for another
//! file, it is ignored and only the durable range record counts.
//!
//! # Layout (native byte order: one machine)
//!
//! ```text
//!   0 magic u64 "KTHLIVE1"       40 volume u64         } identity of the
//!   8 seq u32 (even: stable)      48 index u64          } data file
//!  12 version u32 (futex word)    56 birth secs i64     }
//!  16 waiters u32                 64 birth nanos u32 | known << 32
//!  20 state u32 (0 active,        72 boot id u128 (two u64)
//!     1 committed, 2 replaced)    88..128 reserved
//!  24 len u32 (entries in use)   128 entries: (start u64, end u64) * capacity
//!  32 final_len u64
//! ```
//!
//! Every field is read and written with atomics only; the capacity is what
//! the file's length holds.
//!
//! # Publishing order
//!
//! The writer, for each write (under the resource's state lock, so writes are
//! published one at a time, in order):
//!
//! 1. the bytes go into the file (`pwrite`, or a store into the shared
//!    mapping): into the page cache, which every process sees;
//! 2. the range goes into the table: a new entry's `start` and `end`, then
//!    `len` with `Release`; or an entry whose `end` is the write's start gets
//!    its `end` moved with `Release`;
//! 3. `version` += 1 with `Release`;
//! 4. a `SeqCst` fence, then, only if `waiters` is not 0, `FUTEX_WAKE` on
//!    `version`.
//!
//! A reader loads `len` and each `end` with `Acquire`, so it sees the bytes
//! behind every range it reads: no follower and no successor ever sees a
//! range before its bytes are in the file. A write nobody waits for costs the
//! writer a lock it alone takes, a few stores, a fence and a load.
//!
//! # Sleeping
//!
//! A follower that needs more: `waiters` += 1; `SeqCst` fence; `v = version`;
//! if `v` differs from the version the last read of the table started from,
//! read again instead; else `FUTEX_WAIT(version, v)`; `waiters` -= 1. The two
//! fences order "store version, load waiters" against "store waiters, load
//! version": either the writer sees the follower counted and wakes it, or the
//! follower sees the new version and does not sleep (and `FUTEX_WAIT` itself
//! refuses to sleep once `version` moved on). Where there is no
//! cross-process futex (`sys::wake::EVENT_DRIVEN` is false: macOS, Windows)
//! or the region is read-only to the follower, it reads `version` every
//! [`POLL`] instead.
//!
//! A follower killed inside a wait leaves `waiters` raised: the writer then
//! makes one needless `FUTEX_WAKE` per write until the file is committed.
//!
//! # Bounded size
//!
//! A write that continues an entry (starts at its end) extends it in place,
//! so a sequential stream, or each of a few parallel ones, stays one entry.
//! Other writes append. When the table is full the writer compacts it: it
//! merges the entries, and rewrites them in place under a sequence lock (`seq`
//! odd while it does; a reader that saw it odd, or changed, reads again, and
//! one that keeps seeing it odd gives up until the next `version`). If more
//! than half the table would still be in use, the file first doubles. So the
//! region holds at most about twice the entries the writer has disjoint
//! ranges, plus the initial 1016.
//!
//! # Who writes what
//!
//! Only the holder of the data file's writer lock (see `lock`) writes the
//! header and the table. Followers only count themselves in `waiters`, and
//! may create the file blank (all zero, so invalid) when there is none, to
//! have a word to sleep on until the next writer comes. A writer taking over
//! rewrites the region in place, never replaces the file, since followers
//! keep it mapped; the writer deletes it once the record says committed (a
//! follower opening meanwhile reads the record again after the region).
#![deny(unsafe_code)]

use std::{
    collections::HashMap,
    fs::File,
    io,
    ops::Range,
    path::{Path, PathBuf},
    sync::{
        atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use memmap2::MmapRaw;
use parking_lot::{Condvar, Mutex, RwLock};
use rangemap::RangeSet;

use crate::{
    backend::{Published, Source},
    error::IoContext,
    sys::{self, wake, FileId},
    temp, StorageResult,
};

const MAGIC: u64 = u64::from_le_bytes(*b"KTHLIVE1");
const SEQ: usize = 8;
const VERSION: usize = 12;
const WAITERS: usize = 16;
const STATE: usize = 20;
const LEN: usize = 24;
const FINAL_LEN: usize = 32;
const VOLUME: usize = 40;
const INDEX: usize = 48;
const BIRTH_SECS: usize = 56;
const BIRTH_NANOS: usize = 64;
const BOOT: usize = 72;
const HEADER: usize = 128;
const ENTRY: usize = 16;
/// A new region: 16 KiB, 1016 entries.
const INITIAL_LEN: u64 = 16 * 1024;

const ACTIVE: u32 = 0;
const COMMITTED: u32 = 1;
const REPLACED: u32 = 2;

/// How often a follower reads `version` where it cannot sleep on it.
pub(crate) const POLL: Duration = Duration::from_millis(2);

/// How many times a reader retries a table being compacted before it gives
/// up until the next version.
const READ_TRIES: usize = 1000;

/// `<path>.live`.
fn path_of(data: &Path) -> PathBuf {
    temp::sibling(data, ".live")
}

/// The region's file, mapped.
struct Map {
    raw: MmapRaw,
    /// Entries the mapping holds.
    capacity: usize,
}

impl Map {
    fn new(file: &File, writable: bool) -> io::Result<Self> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        if len < HEADER {
            return Err(io::ErrorKind::InvalidData.into());
        }
        let mut opts = memmap2::MmapOptions::new();
        opts.len(len);
        let raw = if writable {
            opts.map_raw(file)?
        } else {
            opts.map_raw_read_only(file)?
        };
        Ok(Self {
            raw,
            capacity: (len - HEADER) / ENTRY,
        })
    }

    #[allow(unsafe_code)]
    fn u32_at(&self, at: usize) -> &AtomicU32 {
        assert!(at.is_multiple_of(4) && at + 4 <= HEADER);
        // SAFETY: `at + 4 <= HEADER <= len` (checked in `new`) and `at` is a
        // multiple of 4 in a page-aligned mapping, so the pointer is in bounds
        // and aligned for `AtomicU32`, which has the layout of `u32`. The
        // mapping lives as long as `self`, and every process touches these
        // bytes through atomics only.
        unsafe { &*self.raw.as_ptr().add(at).cast::<AtomicU32>() }
    }

    #[allow(unsafe_code)]
    fn u64_at(&self, at: usize) -> &AtomicU64 {
        assert!(at.is_multiple_of(8) && at + 8 <= HEADER + self.capacity * ENTRY);
        // SAFETY: in bounds and 8-aligned (checked above; the mapping is
        // `HEADER + capacity * ENTRY` bytes or more and page-aligned); as for
        // `u32_at`, the mapping outlives the reference and is only ever
        // accessed atomically.
        unsafe { &*self.raw.as_ptr().add(at).cast::<AtomicU64>() }
    }

    fn start(&self, i: usize) -> &AtomicU64 {
        self.u64_at(HEADER + i * ENTRY)
    }

    fn end(&self, i: usize) -> &AtomicU64 {
        self.u64_at(HEADER + i * ENTRY + 8)
    }

    fn version(&self) -> &AtomicU32 {
        self.u32_at(VERSION)
    }

    fn waiters(&self) -> &AtomicU32 {
        self.u32_at(WAITERS)
    }

    /// One attempt at reading the whole region.
    fn read(&self) -> Read {
        let seq = self.u32_at(SEQ).load(Ordering::Acquire);
        if !seq.is_multiple_of(2) {
            return Read::Busy;
        }
        if self.u64_at(0).load(Ordering::Relaxed) != MAGIC {
            return Read::Blank;
        }
        let state = self.u32_at(STATE).load(Ordering::Acquire);
        let final_len = self.u64_at(FINAL_LEN).load(Ordering::Relaxed);
        let len = self.u32_at(LEN).load(Ordering::Acquire) as usize;
        if len > self.capacity {
            return Read::Grown;
        }
        let nanos = self.u64_at(BIRTH_NANOS).load(Ordering::Relaxed);
        #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
        let birth = (nanos >> 32 == 1).then(|| {
            (
                self.u64_at(BIRTH_SECS).load(Ordering::Relaxed) as i64,
                nanos as u32,
            )
        });
        let id = FileId {
            volume: self.u64_at(VOLUME).load(Ordering::Relaxed),
            index: self.u64_at(INDEX).load(Ordering::Relaxed),
            birth,
        };
        let boot = u128::from(self.u64_at(BOOT).load(Ordering::Relaxed))
            | u128::from(self.u64_at(BOOT + 8).load(Ordering::Relaxed)) << 64;
        let ranges = (0..len)
            .map(|i| {
                let start = self.start(i).load(Ordering::Relaxed);
                start..self.end(i).load(Ordering::Acquire)
            })
            .filter(|r| !r.is_empty())
            .collect();
        fence(Ordering::Acquire);
        if self.u32_at(SEQ).load(Ordering::Relaxed) != seq {
            return Read::Busy;
        }
        Read::Valid(Contents {
            id,
            boot,
            state,
            final_len,
            ranges,
        })
    }

    /// Reads until the region is stable (or it stays busy).
    fn read_stable(&self) -> Read {
        for _ in 0..READ_TRIES {
            match self.read() {
                Read::Busy => std::thread::yield_now(),
                other => return other,
            }
        }
        Read::Busy
    }
}

/// What a reading found.
enum Read {
    Valid(Contents),
    /// Never initialized (or not a region at all).
    Blank,
    /// Being rewritten; or stuck half-rewritten by a writer that died.
    Busy,
    /// The table outgrew this mapping: map the file again.
    Grown,
}

/// The region's contents.
struct Contents {
    id: FileId,
    boot: u128,
    state: u32,
    final_len: u64,
    ranges: Vec<Range<u64>>,
}

impl Contents {
    /// Whether these contents may be believed for the data file `id` now:
    /// the same file, and the same boot.
    fn describe(&self, id: &FileId) -> bool {
        self.id.same_file(id) && sys::boot_id().is_some_and(|now| sys::same_boot(now, self.boot))
    }

    fn published(self) -> Published {
        Published {
            ranges: self.ranges,
            final_len: (self.state == COMMITTED).then_some(self.final_len),
            gone: self.state == REPLACED,
        }
    }
}

/// Opens `<data>.live`, creating it blank (exclusively, beside the data, as
/// every temp: see `temp`) if there is none. A symlink, a FIFO or anything
/// else that is not a regular file there is refused, without blocking.
/// Returns the file and whether it could be opened for writing.
fn open_region(region: &Path, grow_to: u64) -> StorageResult<(File, bool)> {
    loop {
        match sys::open_regular(region, true, false).map(|(file, _)| file) {
            Ok(file) => {
                return check_region(file, grow_to)
                    .ctx("open", region)
                    .map(|f| (f, true))
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let (file, _) = sys::open_regular(region, false, false).ctx("open", region)?;
                return check_region(file, 0)
                    .ctx("open", region)
                    .map(|f| (f, false));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(crate::StorageError::io(
                    e,
                    "open",
                    Some(region.to_path_buf()),
                ))
            }
        }
        let (file, name) = temp::create_beside(region, "live")?;
        file.set_len(INITIAL_LEN).ctx("ftruncate", name.path())?;
        match name.persist_new(region) {
            Ok(()) => return Ok((file, true)),
            // Someone else created one first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(crate::StorageError::io(
                    e,
                    "link",
                    Some(region.to_path_buf()),
                ))
            }
        }
    }
}

/// A regular file at least `grow_to` bytes long (grown if writable).
fn check_region(file: File, grow_to: u64) -> io::Result<File> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    if meta.len() < grow_to {
        file.set_len(grow_to)?;
    }
    Ok(file)
}

/// The writer's side: publishes ranges and the commit.
///
/// Used under the driver's lock, one call at a time.
pub(super) struct Publisher {
    region: PathBuf,
    file: File,
    map: Map,
    /// Entries in use (what `len` says).
    len: usize,
    /// The entry each end belongs to, to extend it by a write that starts there.
    by_end: HashMap<u64, usize>,
    /// The last entry written, checked before the map.
    last: Option<(u64, usize)>,
    version: u32,
    seq: u32,
    /// Cleared once committed or replaced: nothing more is published.
    open: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("region", &self.region)
            .field("len", &self.len)
            .field("capacity", &self.map.capacity)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens (or creates) the region of the data file `data` for the writer
    /// holding its lock. Returns it with what it says, if it may be believed
    /// for the data file `id` (the same file, this boot) whose length is
    /// `file_len`: what a writer published before it died.
    ///
    /// # Errors
    /// `Io` opening, creating or mapping the region.
    pub(super) fn open(
        data: &Path,
        id: &FileId,
        file_len: u64,
    ) -> StorageResult<(Self, Option<Published>)> {
        let region = path_of(data);
        let (file, writable) = open_region(&region, INITIAL_LEN)?;
        if !writable {
            return Err(crate::StorageError::io(
                io::ErrorKind::PermissionDenied.into(),
                "open",
                Some(region),
            ));
        }
        let map = Map::new(&file, true).ctx("mmap", &region)?;
        let left = match map.read_stable() {
            Read::Valid(c) if c.describe(id) => {
                let fits = match c.state {
                    ACTIVE => c.ranges.iter().all(|r| r.end <= file_len),
                    COMMITTED => c.final_len == file_len,
                    _ => false,
                };
                fits.then(|| c.published())
            }
            _ => None,
        };
        let version = map.version().load(Ordering::Relaxed);
        let seq = map.u32_at(SEQ).load(Ordering::Relaxed);
        Ok((
            Self {
                region,
                file,
                map,
                len: 0,
                by_end: HashMap::new(),
                last: None,
                version,
                seq,
                open: true,
            },
            left,
        ))
    }

    /// (Re)starts the region for the data file `id` with `ranges` present
    /// (what this writer opened with), active, and wakes every follower.
    ///
    /// # Errors
    /// `Io` growing the region.
    pub(super) fn start(&mut self, id: &FileId, ranges: &RangeSet<u64>) -> StorageResult<()> {
        let boot = sys::boot_id().unwrap_or(0);
        let ranges: Vec<_> = ranges.iter().cloned().collect();
        self.reserve(ranges.len())?;
        self.rewrite(
            |map| {
                let m = map;
                m.u64_at(0).store(MAGIC, Ordering::Relaxed);
                m.u64_at(VOLUME).store(id.volume, Ordering::Relaxed);
                m.u64_at(INDEX).store(id.index, Ordering::Relaxed);
                let (secs, nanos) = id.birth.map_or((0, 0), |(s, n)| {
                    #[allow(clippy::cast_sign_loss)]
                    (s as u64, u64::from(n) | 1 << 32)
                });
                m.u64_at(BIRTH_SECS).store(secs, Ordering::Relaxed);
                m.u64_at(BIRTH_NANOS).store(nanos, Ordering::Relaxed);
                #[allow(clippy::cast_possible_truncation)]
                m.u64_at(BOOT).store(boot as u64, Ordering::Relaxed);
                m.u64_at(BOOT + 8)
                    .store((boot >> 64) as u64, Ordering::Relaxed);
                m.u64_at(FINAL_LEN).store(0, Ordering::Relaxed);
                m.u32_at(STATE).store(ACTIVE, Ordering::Relaxed);
            },
            &ranges,
        );
        self.open = true;
        self.announce(true);
        Ok(())
    }

    /// Publishes `range`, whose bytes are in the file now.
    ///
    /// # Errors
    /// `Io` growing the region (the range then stays unpublished: followers
    /// wait longer, nothing is claimed that is not there).
    pub(super) fn publish(&mut self, range: Range<u64>) -> StorageResult<()> {
        if !self.open || range.is_empty() {
            return Ok(());
        }
        let continues = match self.last {
            Some((end, i)) if end == range.start => Some(i),
            _ => self.by_end.remove(&range.start),
        };
        let i = match continues {
            Some(i) => {
                self.map.end(i).store(range.end, Ordering::Release);
                i
            }
            None => {
                if self.len == self.map.capacity {
                    self.compact()?;
                }
                let i = self.len;
                self.map.start(i).store(range.start, Ordering::Relaxed);
                self.map.end(i).store(range.end, Ordering::Relaxed);
                self.len += 1;
                self.set_len();
                i
            }
        };
        if let Some((end, j)) = self.last.replace((range.end, i)) {
            if j != i {
                self.by_end.insert(end, j);
            }
        }
        self.announce(false);
        Ok(())
    }

    /// Publishes the commit at `final_len`; nothing is published after it.
    pub(super) fn commit(&mut self, final_len: u64) {
        self.finish(COMMITTED, final_len);
    }

    /// Publishes that the file at the path was replaced by a new one: the
    /// followers of this one learn nothing more from it.
    pub(super) fn replaced(&mut self) {
        self.finish(REPLACED, 0);
    }

    fn finish(&mut self, state: u32, final_len: u64) {
        if !self.open {
            return;
        }
        self.map
            .u64_at(FINAL_LEN)
            .store(final_len, Ordering::Relaxed);
        self.map.u32_at(STATE).store(state, Ordering::Release);
        self.open = false;
        self.announce(true);
    }

    /// Deletes the region, if it is still the file at its path: the record
    /// says committed now, and nobody needs it.
    pub(super) fn retire(self) {
        let ours = sys::file_id(&self.file);
        let there = sys::path_id(&self.region);
        if matches!((ours, there), (Ok(a), Ok(b)) if a.same_file(&b)) {
            let _ = std::fs::remove_file(&self.region);
        }
    }

    fn set_len(&self) {
        #[allow(clippy::cast_possible_truncation)]
        self.map
            .u32_at(LEN)
            .store(self.len as u32, Ordering::Release);
    }

    /// Steps 3 and 4 of publishing: the new version, and a wake if anyone
    /// sleeps (or `always`: rare events, where a needless wake costs nothing).
    fn announce(&mut self, always: bool) {
        self.version = self.version.wrapping_add(1);
        self.map.version().store(self.version, Ordering::Release);
        fence(Ordering::SeqCst);
        if always || self.map.waiters().load(Ordering::Relaxed) != 0 {
            wake::wake_all(self.map.version());
        }
    }

    /// Makes room for `entries` entries, keeping half the table free.
    fn reserve(&mut self, entries: usize) -> StorageResult<()> {
        if entries <= self.map.capacity / 2 {
            return Ok(());
        }
        let capacity = (self.map.capacity * 2).max(entries * 2);
        let len = (HEADER + capacity * ENTRY) as u64;
        self.file.set_len(len).ctx("ftruncate", &self.region)?;
        self.map = Map::new(&self.file, true).ctx("mmap", &self.region)?;
        Ok(())
    }

    /// Merges the table's entries and writes them back, in a larger file if
    /// more than half would still be in use.
    fn compact(&mut self) -> StorageResult<()> {
        let merged: RangeSet<u64> = (0..self.len)
            .map(|i| {
                self.map.start(i).load(Ordering::Relaxed)..self.map.end(i).load(Ordering::Relaxed)
            })
            .filter(|r| !r.is_empty())
            .collect();
        let merged: Vec<_> = merged.into_iter().collect();
        self.reserve(merged.len())?;
        self.rewrite(|_| {}, &merged);
        Ok(())
    }

    /// Rewrites the header (`header`) and the table (`entries`) under the
    /// sequence lock, and rebuilds the writer's index of ends.
    fn rewrite(&mut self, header: impl FnOnce(&Map), entries: &[Range<u64>]) {
        let seq = self.map.u32_at(SEQ);
        let odd = self.seq | 1;
        seq.store(odd, Ordering::Relaxed);
        // Readers that see any store below also see `seq` odd.
        fence(Ordering::Release);
        header(&self.map);
        for (i, r) in entries.iter().enumerate() {
            self.map.start(i).store(r.start, Ordering::Relaxed);
            self.map.end(i).store(r.end, Ordering::Relaxed);
        }
        self.len = entries.len();
        self.set_len();
        self.seq = odd.wrapping_add(1);
        seq.store(self.seq, Ordering::Release);
        self.by_end = entries
            .iter()
            .enumerate()
            .map(|(i, r)| (r.end, i))
            .collect();
        self.last = None;
    }
}

/// The follower's side: reads what the writer published, and sleeps until
/// it publishes more.
pub(super) struct Subscriber {
    region: PathBuf,
    data: PathBuf,
    /// The data file this follower has open.
    id: FileId,
    file: File,
    map: RwLock<Arc<Map>>,
    /// Whether `waiters` may be counted (the region is writable to us).
    counted: bool,
    /// The version the last read of the table started from.
    seen: AtomicU32,
    /// Serializes reads of the table (and remaps).
    reading: Mutex<()>,
    stopped: AtomicBool,
    /// Set while a thread is inside `wait` (see `interrupt`).
    in_wait: AtomicBool,
    /// Where a polling follower naps.
    nap: (Mutex<()>, Condvar),
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Opens (or creates blank) the region of the data file `data`, open as
    /// `id`, for a follower. Returns it with what it says now, if that may be
    /// believed for this file.
    ///
    /// # Errors
    /// `Io` opening, creating or mapping the region.
    pub(super) fn open(data: &Path, id: FileId) -> StorageResult<(Arc<Self>, Option<Published>)> {
        let region = path_of(data);
        let (file, counted) = open_region(&region, 0)?;
        let map = Map::new(&file, counted).ctx("mmap", &region)?;
        let sub = Self {
            region,
            data: data.to_path_buf(),
            id,
            file,
            map: RwLock::new(Arc::new(map)),
            counted,
            seen: AtomicU32::new(0),
            reading: Mutex::new(()),
            stopped: AtomicBool::new(false),
            in_wait: AtomicBool::new(false),
            nap: (Mutex::new(()), Condvar::new()),
        };
        let now = sub.read_all();
        Ok((Arc::new(sub), now))
    }

    /// Reads the whole region; remembers the version it started from.
    fn read_all(&self) -> Option<Published> {
        let _reading = self.reading.lock();
        let mut map = Arc::clone(&self.map.read());
        let version = map.version().load(Ordering::Acquire);
        let mut read = map.read_stable();
        if matches!(read, Read::Grown) {
            match Map::new(&self.file, self.counted) {
                Ok(bigger) => {
                    map = Arc::new(bigger);
                    *self.map.write() = Arc::clone(&map);
                    read = map.read_stable();
                }
                Err(_) => read = Read::Busy,
            }
        }
        self.seen.store(version, Ordering::Release);
        match read {
            Read::Valid(c) if c.describe(&self.id) => Some(c.published()),
            // A writer started on another file at the path: ours is gone
            // if the path no longer leads to it.
            Read::Valid(c) if !c.id.same_file(&self.id) && self.replaced() => Some(Published {
                gone: true,
                ..Published::default()
            }),
            _ => None,
        }
    }

    /// Whether the file at the data path is no longer ours.
    fn replaced(&self) -> bool {
        sys::path_id(&self.data).map_or(true, |now| !now.same_file(&self.id))
    }

    fn nap(&self) {
        let mut guard = self.nap.0.lock();
        if !self.stopped.load(Ordering::Acquire) {
            self.nap.1.wait_for(&mut guard, POLL);
        }
    }
}

impl Source for Subscriber {
    fn poll(&self) -> Option<Published> {
        let version = self.map.read().version().load(Ordering::Acquire);
        if version == self.seen.load(Ordering::Acquire) {
            return None;
        }
        self.read_all()
    }

    fn wait(&self) {
        if !wake::EVENT_DRIVEN || !self.counted {
            return self.nap();
        }
        let map = Arc::clone(&self.map.read());
        self.in_wait.store(true, Ordering::SeqCst);
        if !self.stopped.load(Ordering::SeqCst) {
            map.waiters().fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let version = map.version().load(Ordering::Acquire);
            if version == self.seen.load(Ordering::Acquire) {
                wake::wait(map.version(), version);
            }
            map.waiters().fetch_sub(1, Ordering::SeqCst);
        }
        self.in_wait.store(false, Ordering::SeqCst);
    }

    fn interrupt(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        {
            let _guard = self.nap.0.lock();
            self.nap.1.notify_all();
        }
        // A thread between its check of `stopped` and its sleep would miss a
        // single wake: wake until it is out (a few microseconds at most).
        // Other followers of the file wake too, find nothing new, and sleep.
        let map = Arc::clone(&self.map.read());
        while self.in_wait.load(Ordering::SeqCst) {
            wake::wake_all(map.version());
            std::thread::yield_now();
        }
    }
}
