//! The string enums of the JavaScript API: napi-rs generates both the
//! conversion and the TypeScript union of each (camelCase of the variant),
//! and each maps one to one onto the core's enum.

use kithara_storage::{binding, OpenMode as CoreOpenMode, WaitOutcome as CoreWaitOutcome};
use napi_derive::napi;

/// How a file opens (`MmapOptions.mode`).
#[napi(string_enum = "camelCase")]
pub enum OpenMode {
    /// An existing non-empty file opens committed; a missing or empty one is created.
    Auto,
    /// Existing files open writable.
    ReadWrite,
    /// Writes fail; a missing file is empty and committed.
    ReadOnly,
}

impl From<OpenMode> for CoreOpenMode {
    fn from(mode: OpenMode) -> Self {
        match mode {
            OpenMode::Auto => Self::Auto,
            OpenMode::ReadWrite => Self::ReadWrite,
            OpenMode::ReadOnly => Self::ReadOnly,
        }
    }
}

/// Which decorator a resource opens behind.
#[napi(string_enum = "camelCase")]
pub enum Flavor {
    /// None.
    Plain,
    /// `Atomic`.
    Atomic,
    /// `AtomicChunked` (files only).
    Chunked,
}

impl From<Flavor> for binding::Flavor {
    fn from(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Plain => Self::Plain,
            Flavor::Atomic => Self::Atomic,
            Flavor::Chunked => Self::Chunked,
        }
    }
}

/// How a wait ended.
#[napi(string_enum = "camelCase")]
pub enum WaitOutcome {
    /// The range is readable.
    Ready,
    /// The resource is committed shorter.
    Eof,
    /// `interrupt()` woke the waiter.
    Interrupted,
}

impl From<CoreWaitOutcome> for WaitOutcome {
    fn from(outcome: CoreWaitOutcome) -> Self {
        match outcome {
            CoreWaitOutcome::Ready => Self::Ready,
            CoreWaitOutcome::Eof => Self::Eof,
            CoreWaitOutcome::Interrupted => Self::Interrupted,
        }
    }
}

/// The lifecycle state.
#[napi(string_enum = "camelCase")]
pub enum StatusKind {
    /// Open for writing.
    Active,
    /// Finished.
    Committed,
    /// Marked failed.
    Failed,
    /// Its token was cancelled.
    Cancelled,
    /// `close()` was called.
    Closed,
}

impl From<binding::StatusKind> for StatusKind {
    fn from(kind: binding::StatusKind) -> Self {
        match kind {
            binding::StatusKind::Active => Self::Active,
            binding::StatusKind::Committed => Self::Committed,
            binding::StatusKind::Failed => Self::Failed,
            binding::StatusKind::Cancelled => Self::Cancelled,
            binding::StatusKind::Closed => Self::Closed,
        }
    }
}

/// The driver underneath a resource.
#[napi(string_enum = "camelCase")]
pub enum ResourceKind {
    /// A memory-mapped file.
    Mmap,
    /// Memory.
    Mem,
}

impl From<binding::ResourceKind> for ResourceKind {
    fn from(kind: binding::ResourceKind) -> Self {
        match kind {
            binding::ResourceKind::Mmap => Self::Mmap,
            binding::ResourceKind::Mem => Self::Mem,
        }
    }
}

/// What an observer is told of.
#[napi(string_enum = "camelCase")]
pub enum ProgressEvent {
    /// `[a, b)` was written.
    Write,
    /// Committed at length `a`.
    Commit,
    /// Failed, with a reason.
    Fail,
    /// Closed.
    Close,
}

/// Why a file opened with less than it seemed to hold (the core's `Recovery`).
#[napi(string_enum = "camelCase")]
pub enum Recovery {
    /// Nothing to recover.
    None,
    /// Persisted ranges, a non-empty file, no record.
    Missing,
    /// The record is unreadable, empty, truncated or altered.
    Damaged,
    /// The record describes another file.
    Mismatch,
}

impl From<kithara_storage::Recovery> for Recovery {
    fn from(recovery: kithara_storage::Recovery) -> Self {
        use kithara_storage::Recovery as R;
        match recovery {
            R::None => Self::None,
            R::Missing => Self::Missing,
            R::Damaged => Self::Damaged,
            R::Mismatch => Self::Mismatch,
        }
    }
}
