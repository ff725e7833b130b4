#![forbid(unsafe_code)]
//! The one error type of the crate.

use std::{io, path::PathBuf};

use thiserror::Error;

/// Result type used throughout `kithara-storage`.
pub type StorageResult<T> = Result<T, StorageError>;

/// Everything a storage operation can fail with.
///
/// Each variant is a distinct condition a caller can act on, so bindings map
/// them one to one onto stable error codes.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system refused an operation on the backing file.
    #[error("{syscall} failed{}: {source}", path.as_ref().map(|p| format!(" on '{}'", p.display())).unwrap_or_default())]
    Io {
        /// The OS error, with its `raw_os_error()` where there is one.
        #[source]
        source: io::Error,
        /// The system call (or the step) that failed, as Node names them: `open`, `ftruncate`, `fallocate`, `mmap`, `rename`, `fsync`, `write`.
        syscall: &'static str,
        /// The file involved, when there is one.
        path: Option<PathBuf>,
    },

    /// A range whose start lies past its end, or whose end overflows `u64`.
    #[error("invalid range: start {start} > end {end}")]
    InvalidRange {
        /// First byte of the requested range.
        start: u64,
        /// One past the last byte of the requested range.
        end: u64,
    },

    /// The resource was marked failed with [`ResourceExt::fail`](crate::ResourceExt::fail).
    #[error("resource failed: {0}")]
    Failed(String),

    /// The resource's cancellation token, or a per-wait token, was cancelled.
    #[error("operation cancelled")]
    Cancelled,

    /// Another live writer holds the advisory lock on the `<path>.tmp` of an
    /// [`AtomicChunked`](crate::AtomicChunked) resource.
    #[error("'{}' is claimed by another live writer", .0.display())]
    TmpClaimed(PathBuf),

    /// Another writer, in this process or another, holds the file: a file
    /// has one writer at a time (an exclusive advisory lock held for the
    /// writer's life, see `MmapOptions`).
    #[error("'{}' is locked by another writer", path.display())]
    Locked {
        /// The data file.
        path: PathBuf,
    },

    /// A write to a committed resource whose mode does not reopen it for writing.
    #[error("resource is committed; reactivate it before writing")]
    Committed,

    /// A write, commit or reactivate on a resource opened with [`OpenMode::ReadOnly`](crate::OpenMode::ReadOnly).
    #[error("resource is read-only")]
    ReadOnly,

    /// Any use after [`ResourceExt::close`](crate::ResourceExt::close).
    #[error("resource is closed")]
    Closed,

    /// A wait passed its deadline before the range was decided.
    #[error("wait timed out")]
    Timeout,

    /// The operation does not exist on this platform or backend.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}

impl StorageError {
    /// Wraps an OS error with the step that failed and the file it concerned.
    pub fn io(source: io::Error, syscall: &'static str, path: Option<PathBuf>) -> Self {
        Self::Io {
            source,
            syscall,
            path,
        }
    }

    /// Builds an [`StorageError::InvalidRange`] for `start..end`.
    pub fn invalid_range(start: u64, end: u64) -> Self {
        Self::InvalidRange { start, end }
    }

    /// The stable code every binding reports for this error
    /// (`ERR_STORAGE_IO`, `ERR_STORAGE_CLOSED`, ...), one per variant.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "ERR_STORAGE_IO",
            Self::InvalidRange { .. } => "ERR_STORAGE_INVALID_RANGE",
            Self::Failed(_) => "ERR_STORAGE_FAILED",
            Self::Cancelled => "ERR_STORAGE_CANCELLED",
            Self::TmpClaimed(_) => "ERR_STORAGE_TMP_CLAIMED",
            Self::Locked { .. } => "ERR_STORAGE_LOCKED",
            Self::Committed => "ERR_STORAGE_COMMITTED",
            Self::ReadOnly => "ERR_STORAGE_READ_ONLY",
            Self::Closed => "ERR_STORAGE_CLOSED",
            Self::Timeout => "ERR_STORAGE_TIMEOUT",
            Self::Unsupported(_) => "ERR_STORAGE_UNSUPPORTED",
        }
    }

    /// The OS error number of an `Io` error: the OS's own code, or for the
    /// limits the crate enforces itself (a memory resource's `max_len`, an
    /// allocation failure) the POSIX number of the matching condition
    /// (`EFBIG` 27, `ENOMEM` 12, the same on Linux, macOS and Windows' CRT).
    pub fn errno(&self) -> Option<i32> {
        let Self::Io { source, .. } = self else {
            return None;
        };
        source.raw_os_error().or(match source.kind() {
            io::ErrorKind::FileTooLarge => Some(27),
            io::ErrorKind::OutOfMemory => Some(12),
            _ => None,
        })
    }
}

impl From<io::Error> for StorageError {
    fn from(source: io::Error) -> Self {
        Self::io(source, "io", None)
    }
}

/// Adds the failing step and path to an `io::Result`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) trait IoContext<T> {
    fn ctx(self, syscall: &'static str, path: &std::path::Path) -> StorageResult<T>;
}

#[cfg(not(target_arch = "wasm32"))]
impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, syscall: &'static str, path: &std::path::Path) -> StorageResult<T> {
        self.map_err(|e| StorageError::io(e, syscall, Some(path.to_path_buf())))
    }
}

impl Clone for StorageError {
    fn clone(&self) -> Self {
        match self {
            Self::Io {
                source,
                syscall,
                path,
            } => Self::Io {
                source: match source.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(source.kind(), source.to_string()),
                },
                syscall,
                path: path.clone(),
            },
            Self::InvalidRange { start, end } => Self::InvalidRange {
                start: *start,
                end: *end,
            },
            Self::Failed(r) => Self::Failed(r.clone()),
            Self::Cancelled => Self::Cancelled,
            Self::TmpClaimed(p) => Self::TmpClaimed(p.clone()),
            Self::Locked { path } => Self::Locked { path: path.clone() },
            Self::Committed => Self::Committed,
            Self::ReadOnly => Self::ReadOnly,
            Self::Closed => Self::Closed,
            Self::Timeout => Self::Timeout,
            Self::Unsupported(s) => Self::Unsupported(s),
        }
    }
}
