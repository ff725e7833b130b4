#![forbid(unsafe_code)]
//! [`Atomic`]: whole-file writes that are either entirely old or entirely new.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

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
        // Validates the state (closed, read-only, cancelled) before touching
        // the file, and lets the commit below replace a committed one.
        self.inner.reactivate()?;
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(path) = self.inner.path() {
            replace_file(path, data, durable)?;
            return self.inner.commit(Some(data.len() as u64));
        }
        let _ = durable;
        self.inner.write_all(data)
    }
}

/// Writes `data` to a temp file in the directory of `path` and renames it over `path`.
#[cfg(not(target_arch = "wasm32"))]
fn replace_file(path: &Path, data: &[u8], durable: bool) -> StorageResult<()> {
    use std::io::Write;

    use crate::error::IoContext;

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".atomic")
        .tempfile_in(dir)
        .ctx("open", dir)?;
    // Through the File itself: tempfile's own Write wraps the OS error and
    // loses its errno.
    let tmp_path = tmp.path().to_path_buf();
    tmp.as_file_mut().write_all(data).ctx("write", &tmp_path)?;
    if durable {
        tmp.as_file().sync_all().ctx("fsync", tmp.path())?;
    }
    tmp.persist(path)
        .map_err(|e| crate::StorageError::io(e.error, "rename", Some(path.to_path_buf())))?;
    Ok(())
}

impl<R: ResourceExt> ResourceExt for Atomic<R> {
    fn write_all(&self, data: &[u8]) -> StorageResult<()> {
        self.write_all_inner(data, false)
    }
    forward_resource_ext!(inner, lifecycle);
}
