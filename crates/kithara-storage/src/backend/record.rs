#![forbid(unsafe_code)]
//! The range record `<path>.ranges`: which byte ranges of a data file hold
//! written bytes, and whether the file is committed.
//!
//! # What a record may claim
//!
//! A range in a record is a promise that its bytes were written to *the file
//! now at the path*. Three rules keep it:
//!
//! 1. **Data before record.** A record is only ever written after the data it
//!    claims was flushed (the resource's checkpoint: snapshot the ranges,
//!    msync/fdatasync, then write the record).
//! 2. **Bound to its file.** The record stores the identity of the file it
//!    describes ([`FileId`]: volume, file number and birth time). On load, a
//!    record for another file is rejected ([`Recovery::Mismatch`]). A handle
//!    only writes a record if the file at the path is still its own file: it
//!    compares its descriptor's identity with the path's before writing the
//!    temp and again right before the rename. A handle whose file was deleted
//!    or replaced therefore never writes its successor's record.
//!
//!    One race remains: the file can be replaced between the last check and
//!    the rename, so the stale record lands on the successor. It is harmless:
//!    it carries the stale file's identity, so the next load rejects it
//!    (`Mismatch`: active, nothing present); the successor loses progress,
//!    never gains bytes it does not have.
//! 3. **Whole or nothing.** A record is written to a unique temp created
//!    exclusively beside it (see `temp`), fsynced, and renamed over the old
//!    one, and it ends in a CRC-32 of everything before it. An empty,
//!    truncated or altered record fails the length and checksum checks
//!    ([`Recovery::Damaged`]).
//!
//! Why no random generation id: there is nowhere to keep one *on the data
//! file* without extended attributes, which tmpfs and many mounts lack, and an
//! id kept only in the record proves nothing about the data file. The birth
//! time is the data file's own generation id. Without one (file systems or
//! kernels without `statx` birth times), identity is device and inode: a live
//! handle keeps its inode from being reused, and a new file this crate creates
//! gets a fresh record at once, so the gap is a file replaced by someone else
//! that reuses the inode number while the old record is left behind.
//!
//! # Format (version 2, little-endian)
//!
//! ```text
//! magic "KTHRANGE" | version u32 = 2 | flags u32 (bit 0: committed)
//! volume u64 | index u64 | birth known u8 | birth secs i64 | birth nanos u32
//! final_len u64 (0 unless committed)
//! range count u32 | (start u64, end u64) * count      sorted, disjoint, non-empty
//! meta count u32  | (len u32, key utf-8, len u32, value utf-8) * count
//! crc32 u32 of all the bytes before it
//! ```
//!
//! `meta` is a small string map carried from load to every later store, for
//! facts that belong with the ranges (an expected length, an ETag, a URL).

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, Read as _, Write as _},
    path::{Path, PathBuf},
};

use rangemap::RangeSet;

use crate::{
    error::IoContext,
    sys::{self, FileId},
    temp, Recovery, StorageResult,
};

const MAGIC: &[u8; 8] = b"KTHRANGE";
const VERSION: u32 = 2;
const COMMITTED: u32 = 1;

/// What a record says about its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// Ranges holding written bytes.
    pub(crate) available: RangeSet<u64>,
    /// `Some(len)` once committed.
    pub(crate) final_len: Option<u64>,
    /// Facts kept with the ranges; carried unchanged from load to store.
    pub(crate) meta: BTreeMap<String, String>,
}

/// `<path>.ranges`.
pub(crate) fn path_of(data: &Path) -> PathBuf {
    temp::sibling(data, ".ranges")
}

fn encode(id: &FileId, record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(80 + record.available.len() * 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let flags = if record.final_len.is_some() {
        COMMITTED
    } else {
        0
    };
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&id.volume.to_le_bytes());
    out.extend_from_slice(&id.index.to_le_bytes());
    let (known, secs, nanos) = id.birth.map_or((0u8, 0, 0), |(s, n)| (1, s, n));
    out.push(known);
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&nanos.to_le_bytes());
    out.extend_from_slice(&record.final_len.unwrap_or(0).to_le_bytes());
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&count(record.available.len()));
    for r in record.available.iter() {
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.end.to_le_bytes());
    }
    out.extend_from_slice(&count(record.meta.len()));
    for (k, v) in &record.meta {
        for s in [k, v] {
            out.extend_from_slice(&count(s.len()));
            out.extend_from_slice(s.as_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads fixed-size fields off the front of a byte slice.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// Decodes a record; `None` if it is not a whole, well-formed version-2 record.
fn decode(bytes: &[u8]) -> Option<(FileId, Record)> {
    let body_len = bytes.len().checked_sub(4)?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut c = Cursor(body);
    if c.take(MAGIC.len())? != MAGIC || c.u32()? != VERSION {
        return None;
    }
    let flags = c.u32()?;
    if flags & !COMMITTED != 0 {
        return None;
    }
    let volume = c.u64()?;
    let index = c.u64()?;
    let known = c.u8()?;
    let (secs, nanos) = (c.i64()?, c.u32()?);
    let birth = match known {
        0 => None,
        1 => Some((secs, nanos)),
        _ => return None,
    };
    let final_len = c.u64()?;
    let mut available = RangeSet::new();
    let mut prev_end = None;
    for _ in 0..c.u32()? {
        let (start, end) = (c.u64()?, c.u64()?);
        if start >= end || prev_end.is_some_and(|p| start <= p) {
            return None;
        }
        prev_end = Some(end);
        available.insert(start..end);
    }
    let mut meta = BTreeMap::new();
    for _ in 0..c.u32()? {
        let key = c.string()?;
        let value = c.string()?;
        meta.insert(key, value);
    }
    if !c.0.is_empty() {
        return None;
    }
    let id = FileId {
        volume,
        index,
        birth,
    };
    let record = Record {
        available,
        final_len: (flags & COMMITTED != 0).then_some(final_len),
        meta,
    };
    Some((id, record))
}

/// A record is a few bytes per range: anything larger is not one of ours
/// (and is not read into memory).
const MAX_RECORD_LEN: u64 = 256 << 20;

/// Reads the record of the data file `data`, open as `file` with `file_len`
/// bytes, if there is a valid one for exactly this file; otherwise says why not.
///
/// In a directory others can write to, the record is untrusted input: it is
/// opened without following a symlink and without blocking (a FIFO, a
/// directory or a device there is `Damaged`), it must be a regular file of
/// at most [`MAX_RECORD_LEN`] bytes, and it must belong to this user or to
/// the data file's owner (`Mismatch` otherwise: someone else's record proves
/// nothing about our bytes).
pub(crate) fn load(data: &Path, file: &File, file_len: u64) -> Result<Record, Recovery> {
    load_within(data, file, file_len, MAX_RECORD_LEN)
}

/// [`load`] with the size limit as a parameter, so a test can reach it.
fn load_within(data: &Path, file: &File, file_len: u64, max_len: u64) -> Result<Record, Recovery> {
    let (mut rec, meta) = match sys::open_regular(&path_of(data), false, false) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Recovery::Missing),
        Err(_) => return Err(Recovery::Damaged),
    };
    if !written_by_us_or_the_owner(&meta, file) {
        return Err(Recovery::Mismatch);
    }
    if meta.len() > max_len {
        return Err(Recovery::Damaged);
    }
    let mut bytes = Vec::new();
    if (&mut rec)
        .take(max_len + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return Err(Recovery::Damaged);
    }
    let (id, record) = decode(&bytes).ok_or(Recovery::Damaged)?;
    let ours = sys::file_id(file).map_err(|_| Recovery::Mismatch)?;
    if !id.same_file(&ours) {
        return Err(Recovery::Mismatch);
    }
    let fits = match record.final_len {
        Some(len) => len == file_len,
        None => record.available.iter().all(|r| r.end <= file_len),
    };
    if !fits {
        return Err(Recovery::Mismatch);
    }
    Ok(record)
}

/// Whether the record (with metadata `meta`) belongs to this process's
/// user or to the owner of the data file `data`. Always true where files
/// have no numeric owner (Windows).
fn written_by_us_or_the_owner(meta: &fs::Metadata, data: &File) -> bool {
    let (Some(owner), _) = sys::owner_and_links(meta) else {
        return true;
    };
    let data_owner = data
        .metadata()
        .ok()
        .and_then(|m| sys::owner_and_links(&m).0);
    Some(owner) == sys::effective_uid() || Some(owner) == data_owner
}

/// Whether the file now at `data` is `ours`.
fn still_ours(data: &Path, ours: &FileId) -> bool {
    sys::path_id(data).is_ok_and(|now| now.same_file(ours))
}

/// Replaces the record of `data` (open as `file`) atomically and durably.
/// Returns `false`, writing nothing, if the file at `data` is no longer `file`
/// (deleted or replaced): that file's record is not ours to write.
///
/// # Errors
/// `Io` from the temp, the write, the fsync or the rename.
pub(crate) fn store(data: &Path, file: &File, record: &Record) -> StorageResult<bool> {
    let target = path_of(data);
    let ours = sys::file_id(file).ctx("fstat", data)?;
    if !still_ours(data, &ours) {
        return Ok(false);
    }
    let (mut tmp, name) = temp::create_beside(&target, "tmp")?;
    tmp.write_all(&encode(&ours, record))
        .ctx("write", name.path())?;
    tmp.sync_data().ctx("fsync", name.path())?;
    if !still_ours(data, &ours) {
        // Replaced while we wrote: dropping `name` deletes the temp.
        return Ok(false);
    }
    name.persist(&target).map_err(|(e, _)| e)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u64, u64)]) -> RangeSet<u64> {
        ranges.iter().map(|&(a, b)| a..b).collect()
    }

    fn id() -> FileId {
        FileId {
            volume: 7,
            index: 42,
            birth: Some((1_700_000_000, 123)),
        }
    }

    #[test]
    fn round_trips_ranges_state_identity_and_metadata() {
        let mut meta = BTreeMap::new();
        meta.insert("etag".to_owned(), "\"abc\"".to_owned());
        meta.insert("url".to_owned(), "https://example.com/a b?c=ü".to_owned());
        meta.insert(String::new(), String::new());
        let record = Record {
            available: set(&[(0, 10), (20, 30)]),
            final_len: None,
            meta,
        };
        assert_eq!(decode(&encode(&id(), &record)), Some((id(), record)));
        let committed = Record {
            available: set(&[(0, 30)]),
            final_len: Some(30),
            meta: BTreeMap::new(),
        };
        let no_birth = FileId {
            birth: None,
            ..id()
        };
        assert_eq!(
            decode(&encode(&no_birth, &committed)),
            Some((no_birth, committed))
        );
    }

    #[test]
    fn any_flipped_byte_or_cut_is_rejected() {
        let record = Record {
            available: set(&[(0, 10), (20, 30), (40, 1 << 40)]),
            final_len: None,
            meta: [("k".to_owned(), "v".to_owned())].into(),
        };
        let bytes = encode(&id(), &record);
        for at in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut bad = bytes.clone();
                bad[at] ^= bit;
                assert_eq!(decode(&bad), None, "flip {bit:#x} at {at}");
            }
        }
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), None, "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
    }

    #[test]
    fn empty_inverted_or_unordered_ranges_are_rejected() {
        let record = Record {
            available: set(&[(10, 20), (30, 40)]),
            final_len: None,
            meta: BTreeMap::new(),
        };
        let bytes = encode(&id(), &record);
        // The ranges follow the header and their count: (start, end) u64 pairs.
        let first = bytes.len() - 4 - 4 - 32;
        let with = |at: usize, value: u64| {
            let mut bad = bytes.clone();
            bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
            let body = bad.len() - 4;
            let crc = crc32fast::hash(&bad[..body]);
            bad[body..].copy_from_slice(&crc.to_le_bytes());
            decode(&bad)
        };
        assert!(with(first, 10).is_some(), "the same bytes, re-checksummed");
        assert_eq!(with(first, 20), None, "an empty first range");
        assert_eq!(with(first, 25), None, "an inverted first range");
        assert_eq!(
            with(first + 16, 15),
            None,
            "a range overlapping the one before"
        );
        assert_eq!(
            with(first + 16, 20),
            None,
            "a range touching the one before"
        );
    }

    #[test]
    fn a_record_of_exactly_the_size_limit_loads_and_one_byte_less_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a.bin");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&data)
            .unwrap();
        file.set_len(30).unwrap();
        let record = Record {
            available: set(&[(0, 10), (20, 30)]),
            final_len: None,
            meta: BTreeMap::new(),
        };
        assert!(store(&data, &file, &record).unwrap());
        let len = fs::metadata(path_of(&data)).unwrap().len();
        assert_eq!(load_within(&data, &file, 30, len), Ok(record.clone()));
        assert_eq!(
            load_within(&data, &file, 30, len - 1),
            Err(Recovery::Damaged)
        );
        assert_eq!(load(&data, &file, 30), Ok(record));
    }

    #[test]
    fn identity_with_birth_times_ignores_the_device_number() {
        let a = id();
        let rebooted = FileId { volume: 8, ..a };
        assert!(a.same_file(&rebooted));
        let reused = FileId {
            birth: Some((1_700_000_001, 0)),
            ..a
        };
        assert!(!a.same_file(&reused));
        let old_kernel = FileId { birth: None, ..a };
        assert!(a.same_file(&old_kernel));
        assert!(!old_kernel.same_file(&FileId {
            volume: 8,
            ..old_kernel
        }));
    }
}
