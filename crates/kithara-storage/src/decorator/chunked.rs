#![forbid(unsafe_code)]
//! [`AtomicChunked`]: a resource written piece by piece at `<path>.tmp` and
//! renamed into place on commit, so `<path>` never holds a partial file.
//!
//! The temp is claimed with an exclusive advisory lock held for the writer's
//! lifetime. A second live writer gets [`StorageError::TmpClaimed`]; a temp
//! left by a killed process carries no lock (the kernel released it), so the
//! next writer reclaims it.

use std::{
    fs::{self, File, OpenOptions},
    path::{Path, PathBuf},
    sync::Arc,
};

use parking_lot::{Mutex, RwLock};

use crate::{
    error::IoContext, ext::forward_resource_ext, sys, AvailabilityObserver, CancellationToken,
    MmapOptions, MmapResource, OpenMode, Resource, ResourceExt, StorageError, StorageResult,
};

/// Why the factory of an [`AtomicChunked`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenIntent {
    /// Open the temp path for writing.
    Fresh,
    /// Open the canonical path, committed, after the rename.
    Reopen,
}

type Factory<R> = Box<dyn Fn(&Path, OpenIntent) -> StorageResult<R> + Send + Sync>;

/// The exclusive claim on `<path>.tmp`: the lock lives as long as the file handle.
struct Claim {
    tmp: PathBuf,
    lock: File,
}

/// Crash-safe chunked writes: pieces land in `<path>.tmp`; `commit` truncates,
/// fsyncs, renames the temp to `<path>` and reopens it committed. `fail`,
/// `close` or drop before commit delete the temp.
///
/// Lock order: `claim`, then `observer`, then `inner`; `discarded` is taken
/// alone. `commit` holds `claim` across the rename, so two commits cannot
/// both rename the temp.
pub struct AtomicChunked<R: ResourceExt = MmapResource> {
    canonical: PathBuf,
    inner: RwLock<Arc<R>>,
    claim: Mutex<Option<Claim>>,
    /// Set when `fail` discarded the temp before commit: the data is gone,
    /// so the resource can no longer be reactivated.
    discarded: Mutex<Option<String>>,
    /// The observer given to `set_observer`: kept here, not only on `inner`,
    /// because `commit` replaces `inner` with the reopened file.
    observer: Mutex<Option<Arc<dyn AvailabilityObserver>>>,
    factory: Option<Factory<R>>,
}

impl<R: ResourceExt> std::fmt::Debug for AtomicChunked<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicChunked")
            .field("canonical", &self.canonical)
            .field("claimed", &self.claim.lock().is_some())
            .finish_non_exhaustive()
    }
}

/// `a/b.bin` → `a/b.bin.tmp`, in the same directory so the rename is atomic.
pub(crate) fn tmp_path_of(canonical: &Path) -> PathBuf {
    let mut name = canonical.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Opens and exclusively locks `tmp`, then empties it.
fn claim(tmp: &Path) -> StorageResult<Claim> {
    if let Some(parent) = tmp.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).ctx("mkdir", parent)?;
    }
    loop {
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(tmp)
            .ctx("open", tmp)?;
        // The same lock every writer takes (`MmapResource` sees the claim as
        // its writer's lock: `MmapOptions::claimed`).
        if !sys::try_lock(&lock).ctx("flock", tmp)? {
            return Err(StorageError::TmpClaimed(tmp.to_path_buf()));
        }
        // A committing writer may have renamed the file we locked away from
        // the temp path between our open and our lock: then it is not the temp.
        if still_at(&lock, tmp) {
            lock.set_len(0).ctx("ftruncate", tmp)?;
            return Ok(Claim {
                tmp: tmp.to_path_buf(),
                lock,
            });
        }
    }
}

#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl<R: ResourceExt> AtomicChunked<R> {
    /// Claims `<canonical>.tmp` and opens it with `factory(tmp, Fresh)`. On
    /// commit, `factory(canonical, Reopen)` opens the renamed file.
    ///
    /// # Errors
    /// `TmpClaimed` if another live writer holds the temp; `Io`; or what
    /// the factory returns.
    pub fn open<F>(canonical: PathBuf, factory: F) -> StorageResult<Self>
    where
        F: Fn(&Path, OpenIntent) -> StorageResult<R> + Send + Sync + 'static,
    {
        let tmp = tmp_path_of(&canonical);
        let claim = claim(&tmp)?;
        let inner = match factory(&tmp, OpenIntent::Fresh) {
            Ok(inner) => inner,
            Err(e) => {
                let _ = fs::remove_file(&claim.tmp);
                return Err(e);
            }
        };
        Ok(Self {
            canonical,
            inner: RwLock::new(Arc::new(inner)),
            claim: Mutex::new(Some(claim)),
            discarded: Mutex::new(None),
            observer: Mutex::new(None),
            factory: Some(Box::new(factory)),
        })
    }

    /// Wraps a resource that needs no atomic commit (an already committed
    /// file, or memory), delegating everything.
    pub fn passthrough(inner: R, canonical: PathBuf) -> Self {
        Self {
            canonical,
            inner: RwLock::new(Arc::new(inner)),
            claim: Mutex::new(None),
            discarded: Mutex::new(None),
            observer: Mutex::new(None),
            factory: None,
        }
    }

    /// Where the file lands on commit.
    pub fn canonical_path(&self) -> &Path {
        &self.canonical
    }

    /// The temp path while a write is in progress.
    pub fn tmp_path(&self) -> Option<PathBuf> {
        self.claim.lock().as_ref().map(|c| c.tmp.clone())
    }

    /// The resource currently behind this one (the temp's, then the canonical's).
    pub fn current(&self) -> Arc<R> {
        Arc::clone(&self.inner.read())
    }

    /// Deletes the temp and releases the claim, if still held; returns whether it was.
    fn abandon(&self) -> bool {
        match self.claim.lock().take() {
            Some(claim) => {
                let _ = fs::remove_file(&claim.tmp);
                true
            }
            None => false,
        }
    }
}

impl AtomicChunked<MmapResource> {
    /// The file-backed form. If `opts.path` already holds a non-empty file and
    /// the mode is not `ReadWrite`, it opens committed with no claim, as
    /// `OpenMode::Auto` would; otherwise it claims `<path>.tmp` and writes there.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn mmap(cancel: CancellationToken, opts: MmapOptions) -> StorageResult<Self> {
        let existing = fs::metadata(&opts.path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if existing && opts.mode != OpenMode::ReadWrite {
            let canonical = opts.path.clone();
            return Ok(Self::passthrough(Resource::open(cancel, opts)?, canonical));
        }
        let template = opts.clone();
        Self::open(opts.path.clone(), move |path, intent| {
            let mut o = template.clone();
            o.path = path.to_path_buf();
            o.persist_ranges = false;
            // The claim on the temp is its writer's lock.
            o.claimed = intent == OpenIntent::Fresh;
            o.mode = match intent {
                OpenIntent::Fresh => OpenMode::ReadWrite,
                OpenIntent::Reopen if template.mode == OpenMode::ReadOnly => OpenMode::ReadOnly,
                OpenIntent::Reopen => {
                    // An empty committed file would otherwise reopen as new.
                    o.initial_len = Some(0);
                    OpenMode::Auto
                }
            };
            let res: MmapResource = Resource::open(cancel.clone(), o)?;
            if intent == OpenIntent::Reopen && res.len().is_none() {
                res.commit(Some(0))?;
            }
            Ok(res)
        })
    }
}

impl<R: ResourceExt> ResourceExt for AtomicChunked<R> {
    fn commit(&self, final_len: Option<u64>) -> StorageResult<()> {
        let current = self.current();
        let mut claim = self.claim.lock();
        let Some(held) = claim.as_ref() else {
            // Already renamed (or passthrough): an ordinary commit.
            return current.commit(final_len);
        };
        current.commit(final_len)?;
        held.lock.sync_all().ctx("fsync", &held.tmp)?;
        fs::rename(&held.tmp, &self.canonical).ctx("rename", &self.canonical)?;
        // The claim ends after the rename, so the next writer starts a new temp.
        *claim = None;
        drop(claim);
        if let Some(factory) = &self.factory {
            let reopened = Arc::new(factory(&self.canonical, OpenIntent::Reopen)?);
            // Held until the swap, so a concurrent `set_observer` lands on
            // the reopened resource, not on the one being replaced.
            let observer = self.observer.lock();
            reopened.set_observer(observer.clone());
            // Readers holding the old one keep a valid (renamed) mapping until they drop it.
            *self.inner.write() = reopened;
            drop(observer);
        }
        Ok(())
    }

    fn fail(&self, reason: String) {
        self.current().fail(reason.clone());
        if self.abandon() {
            *self.discarded.lock() = Some(reason);
        }
    }

    fn reactivate(&self) -> StorageResult<()> {
        if let Some(reason) = self.discarded.lock().clone() {
            if !self.current().is_closed() {
                return Err(StorageError::Failed(reason));
            }
        }
        self.current().reactivate()
    }

    fn close(&self) {
        self.current().close();
        self.abandon();
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.canonical)
    }

    fn set_observer(&self, observer: Option<Arc<dyn AvailabilityObserver>>) {
        // Under the lock, so a concurrent call cannot leave the current
        // resource with an observer other than the one kept here.
        let mut kept = self.observer.lock();
        self.current().set_observer(observer.clone());
        *kept = observer;
    }

    forward_resource_ext!(current);
}

impl<R: ResourceExt> Drop for AtomicChunked<R> {
    fn drop(&mut self) {
        let _ = self.abandon();
    }
}
