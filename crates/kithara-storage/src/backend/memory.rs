#![forbid(unsafe_code)]
//! [`MemDriver`]: a growable `Vec<u8>` in memory, for browsers and tests.

use std::{io, path::Path};

use parking_lot::RwLock;
use rangemap::RangeSet;

use super::{Driver, DriverIo, DriverState, Resource};
use crate::{StorageError, StorageResult};

/// Writes that would grow a memory resource past this many bytes fail with
/// `Io` (`FileTooLarge`) unless [`MemOptions::max_len`] says otherwise.
pub const DEFAULT_MEM_MAX_LEN: u64 = 4 << 30;

/// Options of an in-memory resource.
///
/// Built with [`MemOptions::default`] and then field assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemOptions {
    /// Contents to start with; the resource opens committed with them.
    pub initial_data: Option<Vec<u8>>,
    /// Bytes to allocate up front (a hint; the buffer grows as needed).
    pub capacity: usize,
    /// Largest size the buffer may grow to, so a stray offset cannot
    /// exhaust memory.
    pub max_len: u64,
}

impl Default for MemOptions {
    fn default() -> Self {
        Self {
            initial_data: None,
            capacity: 0,
            max_len: DEFAULT_MEM_MAX_LEN,
        }
    }
}

/// The bytes of a memory resource.
#[derive(Debug, Default)]
struct Buffers {
    /// The committed bytes, or the active ones while first written.
    data: Vec<u8>,
    /// After `reactivate` of committed bytes: the next generation.
    rewrite: Option<Rewrite>,
}

/// The next generation of committed bytes, written beside them (copy on
/// write) so a reader never sees a mix; see [`DriverIo::reactivate`].
#[derive(Debug)]
struct Rewrite {
    /// Below it, readers get the committed bytes.
    base_len: usize,
    /// What the new generation has written, in `buf` (zeros elsewhere).
    buf: Vec<u8>,
    written: RangeSet<u64>,
}

/// The in-memory driver of [`MemResource`].
///
/// Generations work as in the file driver: after `reactivate`, writes go to
/// a separate buffer; reads below the committed length keep getting the
/// committed bytes (a read stops at that length, so it is one generation);
/// bytes past it are readable as they are written; `commit` copies the
/// committed bytes the new generation did not overwrite into it and swaps it
/// in. All under one lock, so a read is entirely before or after the swap.
#[derive(Debug)]
pub struct MemDriver {
    buf: RwLock<Option<Buffers>>,
    max_len: u64,
}

/// A resource held in memory.
pub type MemResource = Resource<MemDriver>;

impl MemResource {
    /// An empty, active in-memory resource.
    pub fn new(cancel: tokio_util::sync::CancellationToken) -> Self {
        let (driver, init) = MemDriver::empty();
        Self::from_driver(cancel, driver, init, None)
    }
}

fn too_large() -> StorageError {
    StorageError::io(io::Error::from(io::ErrorKind::FileTooLarge), "write", None)
}

fn out_of_memory() -> StorageError {
    StorageError::io(io::Error::from(io::ErrorKind::OutOfMemory), "alloc", None)
}

impl MemDriver {
    fn empty() -> (Self, DriverState) {
        let driver = Self {
            buf: RwLock::new(Some(Buffers::default())),
            max_len: DEFAULT_MEM_MAX_LEN,
        };
        (driver, DriverState::default())
    }
}

impl Driver for MemDriver {
    type Options = MemOptions;

    fn open(opts: MemOptions) -> StorageResult<(Self, DriverState)> {
        let mut init = DriverState::default();
        let buf = match opts.initial_data {
            Some(data) => {
                init.final_len = Some(data.len() as u64);
                init.available = RangeSet::new();
                data
            }
            None => {
                let mut buf = Vec::new();
                if opts.capacity as u64 > opts.max_len {
                    return Err(too_large());
                }
                buf.try_reserve_exact(opts.capacity)
                    .map_err(|_| out_of_memory())?;
                buf
            }
        };
        let driver = Self {
            buf: RwLock::new(Some(Buffers {
                data: buf,
                rewrite: None,
            })),
            max_len: opts.max_len,
        };
        Ok((driver, init))
    }
}

/// Copies `src[offset..]` into `buf`; returns how many bytes.
fn copy_out(src: &[u8], offset: u64, buf: &mut [u8]) -> usize {
    let Ok(start) = usize::try_from(offset) else {
        return 0;
    };
    if start >= src.len() {
        return 0;
    }
    let n = buf.len().min(src.len() - start);
    buf[..n].copy_from_slice(&src[start..start + n]);
    n
}

/// Writes `data` into `buf` at `start`, growing it (zero-filled) as needed.
fn copy_in(buf: &mut Vec<u8>, start: usize, data: &[u8]) -> StorageResult<()> {
    let end = start + data.len();
    if end > buf.len() {
        buf.try_reserve(end - buf.len())
            .map_err(|_| out_of_memory())?;
        buf.resize(end, 0);
    }
    buf[start..end].copy_from_slice(data);
    Ok(())
}

/// Resizes `buf` to `len` (zero-filled), failing cleanly without memory.
fn resize(buf: &mut Vec<u8>, len: usize) -> StorageResult<()> {
    if len > buf.len() {
        buf.try_reserve(len - buf.len())
            .map_err(|_| out_of_memory())?;
    }
    buf.resize(len, 0);
    Ok(())
}

impl MemDriver {
    fn checked_len(&self, len: u64) -> StorageResult<usize> {
        if len > self.max_len {
            return Err(too_large());
        }
        usize::try_from(len).map_err(|_| too_large())
    }
}

impl DriverIo for MemDriver {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let guard = self.buf.read();
        let b = guard.as_ref().ok_or(StorageError::Closed)?;
        Ok(match &b.rewrite {
            Some(rw) if offset < rw.base_len as u64 => {
                // One generation per read: stop at the committed end.
                copy_out(&b.data[..rw.base_len], offset, buf)
            }
            Some(rw) => copy_out(&rw.buf, offset, buf),
            None => copy_out(&b.data, offset, buf),
        })
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let end = self.checked_len(offset + data.len() as u64)?;
        let start = end - data.len();
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        match &mut b.rewrite {
            Some(rw) => {
                copy_in(&mut rw.buf, start, data)?;
                rw.written.insert(offset..end as u64);
                Ok(())
            }
            None => copy_in(&mut b.data, start, data),
        }
    }

    fn commit(&self, final_len: u64) -> StorageResult<()> {
        let len = self.checked_len(final_len)?;
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        if let Some(mut rw) = b.rewrite.take() {
            if rw.written.is_empty() {
                // Nothing new: the committed bytes stay, at the new length.
                if let Err(e) = resize(&mut b.data, len) {
                    b.rewrite = Some(rw);
                    return Err(e);
                }
                return Ok(());
            }
            let kept = 0..rw.base_len.min(len) as u64;
            if let Err(e) = resize(&mut rw.buf, len) {
                b.rewrite = Some(rw);
                return Err(e);
            }
            for gap in rw.written.gaps(&kept) {
                let (a, z) = (gap.start as usize, gap.end as usize);
                rw.buf[a..z].copy_from_slice(&b.data[a..z]);
            }
            b.data = rw.buf;
            return Ok(());
        }
        resize(&mut b.data, len)
    }

    fn reactivate(&self) -> StorageResult<()> {
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        if b.rewrite.is_none() {
            b.rewrite = Some(Rewrite {
                base_len: b.data.len(),
                buf: Vec::new(),
                written: RangeSet::new(),
            });
        }
        Ok(())
    }

    fn replace(&self, data: &[u8], _durable: bool) -> StorageResult<()> {
        self.checked_len(data.len() as u64)?;
        // Copied outside the lock; swapped in under it.
        let mut fresh = Vec::new();
        fresh
            .try_reserve_exact(data.len())
            .map_err(|_| out_of_memory())?;
        fresh.extend_from_slice(data);
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        b.data = fresh;
        b.rewrite = None;
        Ok(())
    }

    fn close(&self) {
        // Frees the buffers now, even while clones of the resource live on.
        *self.buf.write() = None;
    }

    fn path(&self) -> Option<&Path> {
        None
    }
}
