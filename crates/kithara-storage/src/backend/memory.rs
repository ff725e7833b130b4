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

/// The in-memory driver of [`MemResource`].
#[derive(Debug)]
pub struct MemDriver {
    buf: RwLock<Option<Vec<u8>>>,
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
            buf: RwLock::new(Some(Vec::new())),
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
            buf: RwLock::new(Some(buf)),
            max_len: opts.max_len,
        };
        Ok((driver, init))
    }
}

impl DriverIo for MemDriver {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let guard = self.buf.read();
        let data = guard.as_ref().ok_or(StorageError::Closed)?;
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let end = offset + data.len() as u64;
        if end > self.max_len {
            return Err(too_large());
        }
        let end = usize::try_from(end).map_err(|_| too_large())?;
        let start = end - data.len();
        let mut guard = self.buf.write();
        let buf = guard.as_mut().ok_or(StorageError::Closed)?;
        if end > buf.len() {
            buf.try_reserve(end - buf.len())
                .map_err(|_| out_of_memory())?;
            buf.resize(end, 0);
        }
        buf[start..end].copy_from_slice(data);
        Ok(())
    }

    fn commit(&self, final_len: u64) -> StorageResult<()> {
        let len = usize::try_from(final_len).map_err(|_| too_large())?;
        if final_len > self.max_len {
            return Err(too_large());
        }
        let mut guard = self.buf.write();
        let buf = guard.as_mut().ok_or(StorageError::Closed)?;
        if len > buf.len() {
            buf.try_reserve(len - buf.len())
                .map_err(|_| out_of_memory())?;
        }
        buf.resize(len, 0);
        Ok(())
    }

    fn reactivate(&self) -> StorageResult<()> {
        Ok(())
    }

    fn close(&self) {
        // Frees the buffer now, even while clones of the resource live on.
        *self.buf.write() = None;
    }

    fn path(&self) -> Option<&Path> {
        None
    }
}
