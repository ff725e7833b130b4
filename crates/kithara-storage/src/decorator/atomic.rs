#![forbid(unsafe_code)]
//! [`Atomic`]: whole-file writes that are either entirely old or entirely new.

use crate::{ext::forward_resource_ext, ResourceExt, StorageResult};

/// Crash-safe whole-file writes: `write_all` writes a temp file beside the
/// target and renames it over the target, so after a crash the file holds the
/// old contents or the new, never a mix. In memory it simply delegates.
#[derive(Debug, Clone)]
pub struct Atomic<R> {
    inner: R,
}

impl<R: ResourceExt> Atomic<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The wrapped resource.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Like `write_all`, and the bytes are on disk (`fsync`) before the rename.
    ///
    /// # Errors
    /// As `write_all`.
    pub fn write_all_durable(&self, data: &[u8]) -> StorageResult<()> {
        self.write_all_inner(data, true)
    }

    fn write_all_inner(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        // The resource writes the new contents beside the old and swaps them
        // in at once (for files: a temp renamed over the target).
        self.inner.replace_all(data, durable)
    }
}

impl<R: ResourceExt> ResourceExt for Atomic<R> {
    fn write_all(&self, data: &[u8]) -> StorageResult<()> {
        self.write_all_inner(data, false)
    }
    forward_resource_ext!(inner, lifecycle);
}
