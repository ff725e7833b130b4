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

    /// The `<path>.tmp` of an [`AtomicChunked`](crate::AtomicChunked)
    /// resource is taken: another live writer holds its advisory lock, or
    /// something that is not a dead writer's temp of this user is there (a
    /// symlink, another user's file, a file with several links, a FIFO),
    /// which is never reused.
    #[error("'{}' is held by another writer, or is not a temp this process may reuse", .0.display())]
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

    /// A length that contradicts the resource's expected length: a write
    /// ending past it, a commit at another length, or an expected length
    /// below bytes already written (or other than the committed length).
    #[error("length {got} contradicts the expected length {expected}")]
    LengthMismatch {
        /// The expected length (or the committed one, or the end of the
        /// written bytes, when setting an expected length contradicts it).
        expected: u64,
        /// The length or end offset that contradicts it.
        got: u64,
    },

    /// A commit while bytes below the expected length are missing.
    #[error("bytes {start}..{end} are missing below the expected length")]
    Incomplete {
        /// First missing byte.
        start: u64,
        /// One past the last byte of the first missing range.
        end: u64,
    },
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
            Self::LengthMismatch { .. } => "ERR_STORAGE_LENGTH_MISMATCH",
            Self::Incomplete { .. } => "ERR_STORAGE_INCOMPLETE",
        }
    }

    /// The POSIX name of an `Io` error's OS error (`"ENOSPC"`, `"EISDIR"`),
    /// as Node names the `code` of its own `fs` errors; `None` for other
    /// errors and for OS errors without a POSIX name.
    pub fn system_code(&self) -> Option<&'static str> {
        let Self::Io { source, .. } = self else {
            return None;
        };
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(name) = self.errno().and_then(crate::sys::errno_name) {
            return Some(name);
        }
        kind_name(source.kind())
    }

    /// The OS error number of an `Io` error: the OS's own code, or for the
    /// limits the crate enforces itself (a memory resource's `max_len`, an
    /// allocation failure) the POSIX number of the matching condition
    /// (`EFBIG` 27, `ENOMEM` 12, the same on Linux, macOS and Windows' CRT).
    pub fn errno(&self) -> Option<i32> {
        let Self::Io { source, .. } = self else {
            return None;
        };
        source
            .raw_os_error()
            .or_else(|| Refusal::of(source).map(|r| r.errno))
            .or(match source.kind() {
                io::ErrorKind::FileTooLarge => Some(27),
                io::ErrorKind::OutOfMemory => Some(12),
                _ => None,
            })
    }
}

/// An OS error number the crate reports for a condition it refuses itself
/// (a FIFO where a file should be, a hard-linked file it would have to split),
/// with its own explanation instead of the OS's generic text.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    errno: i32,
    why: String,
}

impl Refusal {
    /// The refusal inside `err`, if it is one.
    fn of(err: &io::Error) -> Option<&Refusal> {
        err.get_ref()?.downcast_ref::<Refusal>()
    }
}

/// The errno of `err` if the crate made it with [`refusal`] (not the OS).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn refused_errno(err: &io::Error) -> Option<i32> {
    Refusal::of(err).map(|r| r.errno)
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl std::error::Error for Refusal {}

/// An `io::Error` that reports `errno` (its kind is the errno's) and reads `why`.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn refusal(errno: i32, why: impl Into<String>) -> io::Error {
    let kind = io::Error::from_raw_os_error(errno).kind();
    io::Error::new(
        kind,
        Refusal {
            errno,
            why: why.into(),
        },
    )
}

/// The POSIX name of the condition an [`io::ErrorKind`] stands for, where
/// it stands for one (errors made by the crate, and OS errors whose number
/// has no name here).
fn kind_name(kind: io::ErrorKind) -> Option<&'static str> {
    use io::ErrorKind as K;
    Some(match kind {
        K::NotFound => "ENOENT",
        K::PermissionDenied => "EACCES",
        K::AlreadyExists => "EEXIST",
        K::StorageFull => "ENOSPC",
        K::QuotaExceeded => "EDQUOT",
        K::FileTooLarge => "EFBIG",
        K::OutOfMemory => "ENOMEM",
        K::IsADirectory => "EISDIR",
        K::NotADirectory => "ENOTDIR",
        K::ReadOnlyFilesystem => "EROFS",
        K::ResourceBusy => "EBUSY",
        K::ExecutableFileBusy => "ETXTBSY",
        K::CrossesDevices => "EXDEV",
        K::TooManyLinks => "EMLINK",
        K::InvalidFilename => "ENAMETOOLONG",
        K::NotSeekable => "ESPIPE",
        K::InvalidInput => "EINVAL",
        K::Interrupted => "EINTR",
        K::WouldBlock => "EAGAIN",
        K::Unsupported => "ENOTSUP",
        _ => return None,
    })
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
                source: match (source.raw_os_error(), Refusal::of(source)) {
                    (Some(code), _) => io::Error::from_raw_os_error(code),
                    (None, Some(refusal)) => io::Error::new(source.kind(), refusal.clone()),
                    (None, None) => io::Error::new(source.kind(), source.to_string()),
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
            Self::LengthMismatch { expected, got } => Self::LengthMismatch {
                expected: *expected,
                got: *got,
            },
            Self::Incomplete { start, end } => Self::Incomplete {
                start: *start,
                end: *end,
            },
        }
    }
}
