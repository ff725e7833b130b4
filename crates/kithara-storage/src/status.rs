#![forbid(unsafe_code)]
//! The small value types that describe a resource: how it was opened, what
//! state it is in, and how a wait ended.

/// How [`MmapDriver`](crate::MmapDriver) opens the backing file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// An existing non-empty file opens committed and read-only; a missing or
    /// empty one is created and opens active.
    #[default]
    Auto,
    /// An existing non-empty file opens committed but writable: a write
    /// reactivates it, so it can be rewritten in place (index files).
    /// A missing or empty one is created and opens active.
    ReadWrite,
    /// Never writes. An existing file opens committed; a missing one is an
    /// empty committed resource. Writes, commits and reactivation fail with
    /// [`StorageError::ReadOnly`](crate::StorageError::ReadOnly).
    ReadOnly,
}

/// How a wait for a byte range ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitOutcome {
    /// Every byte of the range (clamped to the final length once committed) is readable.
    Ready,
    /// The resource is committed and the range starts at or past its final length.
    Eof,
    /// [`ResourceExt::interrupt`](crate::ResourceExt::interrupt) woke the waiter
    /// (a seek or flush): the caller should re-plan its read.
    Interrupted,
}

/// Lifecycle of a resource.
///
/// When several apply, the first in this order wins: `Closed`, `Failed`,
/// `Committed`, `Cancelled`, `Active`. A committed resource keeps reporting
/// `Committed` after its token is cancelled, because its data is complete.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceStatus {
    /// Open for writing.
    Active,
    /// Finished: every byte below `final_len` is readable.
    Committed {
        /// Length of the finished resource. Always `Some` for resources of
        /// this crate; an `Option` to match the seed crate's type.
        final_len: Option<u64>,
    },
    /// Marked failed, with the reason given to `fail`.
    Failed(String),
    /// The resource's cancellation token fired while it was active.
    Cancelled,
    /// [`ResourceExt::close`](crate::ResourceExt::close) was called: nothing
    /// is readable any more, whatever state the resource was in before.
    Closed,
}

/// Why a file-backed resource opened with less than its file seemed to hold:
/// what became of the range record (`<path>.ranges`) at open.
///
/// Anything but `None` means the resource opened **active with nothing
/// present**: no byte of the existing file is claimed, because nothing proves
/// which bytes were written. A download resumes by fetching it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Recovery {
    /// Nothing to recover: a new file, a valid record, or ranges not persisted.
    #[default]
    None,
    /// Ranges are persisted, the file is not empty, and it has no record.
    Missing,
    /// The record is unreadable, empty, truncated or altered.
    Damaged,
    /// The record is whole but describes another file (one the path held
    /// before), or ranges this file cannot hold.
    Mismatch,
}

impl Recovery {
    /// The name bindings report: `"none"`, `"missing"`, `"damaged"`, `"mismatch"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Missing => "missing",
            Self::Damaged => "damaged",
            Self::Mismatch => "mismatch",
        }
    }
}
