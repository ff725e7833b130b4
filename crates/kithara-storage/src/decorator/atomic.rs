#![forbid(unsafe_code)]
//! [`Atomic`]: whole-file writes that are either entirely old or entirely new.

use std::path::Path;

use super::forward_resource_ext;
use crate::{ResourceExt, StorageResult};

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
    fn replace_all(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        self.write_all_inner(data, durable)
    }
    fn commit(&self, final_len: Option<u64>) -> StorageResult<()> {
        self.inner.commit(final_len)
    }
    fn fail(&self, reason: String) {
        self.inner.fail(reason);
    }
    fn path(&self) -> Option<&Path> {
        self.inner.path()
    }
    fn close(&self) {
        self.inner.close();
    }
    fn reactivate(&self) -> StorageResult<()> {
        self.inner.reactivate()
    }
    forward_resource_ext!(inner);
}
