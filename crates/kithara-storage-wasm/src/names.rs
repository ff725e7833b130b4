//! The string enums of the JavaScript API: wasm-bindgen generates the
//! conversion and the TypeScript union of each, and each maps one to one
//! onto the core's enum.

use kithara_storage::{binding, binding::ErrorDetails, WaitOutcome as CoreWaitOutcome};
use wasm_bindgen::prelude::*;

/// How a file opens (`MmapOptions.mode`); no files here, but the same API.
#[wasm_bindgen]
pub enum OpenMode {
    Auto = "auto",
    ReadWrite = "readWrite",
    ReadOnly = "readOnly",
}

/// Which decorator a resource opens behind.
#[wasm_bindgen]
pub enum Flavor {
    Plain = "plain",
    Atomic = "atomic",
    Chunked = "chunked",
}

impl TryFrom<Flavor> for binding::Flavor {
    type Error = JsValue;

    fn try_from(flavor: Flavor) -> Result<Self, JsValue> {
        match flavor {
            Flavor::Plain => Ok(Self::Plain),
            Flavor::Atomic => Ok(Self::Atomic),
            Flavor::Chunked => Ok(Self::Chunked),
            // A string outside the union (the facade validates, so only a direct caller).
            _ => Err(super::js_error(&ErrorDetails::new(
                "ERR_INVALID_ARG_VALUE",
                "flavor must be 'plain', 'atomic' or 'chunked'",
            ))),
        }
    }
}

/// How a wait ended.
#[wasm_bindgen]
pub enum WaitOutcome {
    Ready = "ready",
    Eof = "eof",
    Interrupted = "interrupted",
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
#[wasm_bindgen]
pub enum StatusKind {
    Active = "active",
    Committed = "committed",
    Failed = "failed",
    Cancelled = "cancelled",
    Closed = "closed",
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
#[wasm_bindgen]
pub enum ResourceKind {
    Mmap = "mmap",
    Mem = "mem",
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
#[wasm_bindgen]
pub enum ProgressEvent {
    Write = "write",
    Commit = "commit",
    Fail = "fail",
    Close = "close",
}

/// Why a resource opened with less than its file seemed to hold (always
/// `none` here: memory has no record).
#[wasm_bindgen]
pub enum Recovery {
    None = "none",
    Missing = "missing",
    Damaged = "damaged",
    Mismatch = "mismatch",
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
