#![forbid(unsafe_code)]
//! [`MemDriver`]: a growable `Vec<u8>` in memory, for browsers and tests.

use std::{io, path::Path};

use parking_lot::RwLock;
use rangemap::RangeSet;

use super::{membuf::MemBuf, Driver, DriverIo, DriverState, Resource};
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
#[derive(Debug)]
struct Buffers {
    /// The committed bytes, or the active ones while first written.
    data: MemBuf,
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
    buf: MemBuf,
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

impl MemDriver {
    fn empty() -> (Self, DriverState) {
        let driver = Self {
            buf: RwLock::new(Some(Buffers {
                data: MemBuf::from_vec(Vec::new(), ceiling(DEFAULT_MEM_MAX_LEN)),
                rewrite: None,
            })),
            max_len: DEFAULT_MEM_MAX_LEN,
        };
        (driver, DriverState::default())
    }
}

impl Driver for MemDriver {
    type Options = MemOptions;

    fn open(opts: MemOptions) -> StorageResult<(Self, DriverState)> {
        let mut init = DriverState::default();
        let top = ceiling(opts.max_len);
        let buf = match opts.initial_data {
            Some(data) => {
                init.final_len = Some(data.len() as u64);
                init.available = RangeSet::new();
                MemBuf::from_vec(data, top)
            }
            None => {
                if opts.capacity as u64 > opts.max_len {
                    return Err(too_large());
                }
                MemBuf::with_capacity(opts.capacity, top)?
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

/// The most bytes a buffer of a resource limited to `max_len` may hold.
fn ceiling(max_len: u64) -> usize {
    usize::try_from(max_len).unwrap_or(usize::MAX)
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
                copy_out(&b.data.as_slice()[..rw.base_len], offset, buf)
            }
            Some(rw) => copy_out(rw.buf.as_slice(), offset, buf),
            None => copy_out(b.data.as_slice(), offset, buf),
        })
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let end = self.checked_len(offset + data.len() as u64)?;
        let start = end - data.len();
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        match &mut b.rewrite {
            Some(rw) => {
                rw.buf.write_at(start, data)?;
                rw.written.insert(offset..end as u64);
                Ok(())
            }
            None => b.data.write_at(start, data),
        }
    }

    fn commit(&self, final_len: u64) -> StorageResult<()> {
        let len = self.checked_len(final_len)?;
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        if let Some(mut rw) = b.rewrite.take() {
            if rw.written.is_empty() {
                // Nothing new: the committed bytes stay, at the new length.
                if let Err(e) = b.data.resize(len) {
                    b.rewrite = Some(rw);
                    return Err(e);
                }
                return Ok(());
            }
            let kept = 0..rw.base_len.min(len) as u64;
            if let Err(e) = rw.buf.resize(len) {
                b.rewrite = Some(rw);
                return Err(e);
            }
            for gap in rw.written.gaps(&kept) {
                let (a, z) = (gap.start as usize, gap.end as usize);
                rw.buf.as_mut_slice()[a..z].copy_from_slice(&b.data.as_slice()[a..z]);
            }
            b.data = rw.buf;
            return Ok(());
        }
        b.data.resize(len)
    }

    fn reactivate(&self) -> StorageResult<()> {
        let mut guard = self.buf.write();
        let b = guard.as_mut().ok_or(StorageError::Closed)?;
        if b.rewrite.is_none() {
            b.rewrite = Some(Rewrite {
                base_len: b.data.len(),
                buf: MemBuf::from_vec(Vec::new(), ceiling(self.max_len)),
                written: RangeSet::new(),
            });
        }
        Ok(())
    }

    fn replace(&self, data: &[u8], _durable: bool) -> StorageResult<()> {
        self.checked_len(data.len() as u64)?;
        // Copied outside the lock; swapped in under it.
        let mut fresh = MemBuf::with_capacity(0, ceiling(self.max_len))?;
        fresh.write_at(0, data)?;
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
