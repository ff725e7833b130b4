#![forbid(unsafe_code)]
//! [`AtomicChunked`]: a resource written piece by piece at `<path>.tmp` and
//! renamed into place on commit, so `<path>` never holds a partial file.
//!
//! # The claim on `<path>.tmp`
//!
//! The temp is created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode
//! 0666 less the umask) and locked with an exclusive advisory lock held for
//! the writer's lifetime; the writer then works on that descriptor only, never
//! on the path again, and renames it onto `<path>` at commit. A second live
//! writer gets [`StorageError::TmpClaimed`].
//!
//! A `<path>.tmp` that is already there is reclaimed only if it is a temp a
//! killed writer of this same user left behind: opened without following a
//! link and without blocking, it must be a regular file, owned by this
//! process's effective user, with one link, and unlocked (the kernel released
//! its writer's lock). It is then removed while locked, and a fresh temp is
//! created exclusively: the dead writer's file is never reused. Anything else
//! there (a symlink, another user's file, a hard-linked or non-regular file,
//! a live writer's temp) is refused with `TmpClaimed`.
//!
//! So an attacker who can write to the directory cannot make the writer
//! follow a link, write into a file the attacker made or can reach by another
//! name, or commit a file the attacker owns; what they can do is refuse
//! service (plant something at `<path>.tmp`, delete or rename entries of a
//! non-sticky directory).
//!
//! # Lock order
//!
//! `claim`, then `inner`; `discarded` is taken alone.
//! `commit`, `close`, `fail` and drop take `claim` for their whole step, so
//! a commit's rename and the reopen that follows it cannot interleave with a
//! close: once `close` returns, nothing brings the resource back.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use parking_lot::{Mutex, RwLock};

use crate::{
    backend::{MmapDriver, DEFAULT_INITIAL_LEN},
    error::IoContext,
    ext::forward_resource_ext,
    observer::Observers,
    sys,
    temp::{self, Replaced},
    AvailabilityObserver, CancellationToken, MmapOptions, MmapResource, ObserverId, OpenMode,
    Resource, ResourceExt, StorageError, StorageResult,
};

/// Why the factory of an [`AtomicChunked`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenIntent {
    /// Open the temp path for writing.
    Fresh,
    /// Open the canonical path, committed, after the rename.
    Reopen,
}

/// Opens the resource behind an [`AtomicChunked`]: at `path`, whose file is
/// `file` (the claimed temp, then the same file renamed onto the canonical
/// path), for `intent`.
type Factory<R> = Box<dyn Fn(&Path, &File, OpenIntent) -> StorageResult<R> + Send + Sync>;

/// How many times a claim is retried when the temp changes under it (another
/// writer reclaiming, creating or committing at the same moment).
const CLAIM_ATTEMPTS: usize = 8;

/// The exclusive claim on `<path>.tmp`: the temp, open, locked.
struct Claim {
    tmp: PathBuf,
    file: File,
}

impl Claim {
    /// Gives the temp up: removes it (if it is still ours at its path) and
    /// releases the lock.
    fn abandon(self) {
        if still_at(&self.file, &self.tmp) {
            let _ = fs::remove_file(&self.tmp);
        }
        let _ = self.file.unlock();
    }
}

/// Crash-safe chunked writes: pieces land in `<path>.tmp`; `commit` truncates,
/// fsyncs, renames the temp to `<path>` and reopens it committed. `fail`,
/// `close` or drop before commit delete the temp. See the module docs for the
/// claim and the lock order.
pub struct AtomicChunked<R: ResourceExt = MmapResource> {
    canonical: PathBuf,
    inner: RwLock<Arc<R>>,
    claim: Mutex<Option<Claim>>,
    /// Set (under `claim`) by `close`: a commit in flight must not bring a
    /// resource back.
    closed: AtomicBool,
    /// Set when `fail` discarded the temp before commit: the data is gone,
    /// so the resource can no longer be reactivated.
    discarded: Mutex<Option<String>>,
    /// The observers added here: kept here, not on `inner`, because `commit`
    /// replaces `inner` with the reopened file. Each `inner` forwards its
    /// events to them ([`Forward`]).
    observers: Arc<Observers>,
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

/// Passes the events of the resource underneath to the decorator's observers.
struct Forward(Arc<Observers>);

impl AvailabilityObserver for Forward {
    fn on_write(&self, range: std::ops::Range<u64>) {
        self.0.each(|o| o.on_write(range.clone()));
    }
    fn on_commit(&self, final_len: u64) {
        self.0.each(|o| o.on_commit(final_len));
    }
    fn on_fail(&self, reason: &str) {
        self.0.each(|o| o.on_fail(reason));
    }
    fn on_close(&self) {
        self.0.each(|o| o.on_close());
    }
}

/// `a/b.bin` → `a/b.bin.tmp`, in the same directory so the rename is atomic.
pub(crate) fn tmp_path_of(canonical: &Path) -> PathBuf {
    temp::sibling(canonical, ".tmp")
}

/// Takes `tmp`: creates it exclusively and locks it, reclaiming a dead
/// writer's temp of this user first (see the module docs).
fn claim(tmp: &Path) -> StorageResult<Claim> {
    if let Some(parent) = tmp.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).ctx("mkdir", parent)?;
    }
    for _ in 0..CLAIM_ATTEMPTS {
        let file = match sys::create_new(tmp) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                remove_stale(tmp)?;
                continue;
            }
            Err(e) => return Err(StorageError::io(e, "open", Some(tmp.to_path_buf()))),
        };
        // The same lock every writer of a data file takes (see
        // `backend::mmap::lock`): the claim is the temp's writer's lock.
        if !sys::try_lock(&file).ctx("flock", tmp)? {
            // Someone reclaiming took it between our create and our lock;
            // they will remove it. Start over.
            continue;
        }
        // Removed by such a reclaimer before we locked it: not the temp.
        if still_at(&file, tmp) {
            return Ok(Claim {
                tmp: tmp.to_path_buf(),
                file,
            });
        }
    }
    Err(StorageError::TmpClaimed(tmp.to_path_buf()))
}

/// Removes what is at `tmp` if it is a dead writer's temp of this user;
/// `TmpClaimed` for anything else (see the module docs). `Ok` also when it
/// vanished meanwhile: the caller tries to create it again.
fn remove_stale(tmp: &Path) -> StorageResult<()> {
    let claimed = || StorageError::TmpClaimed(tmp.to_path_buf());
    let (file, meta) = match sys::open_regular(tmp, false, false) {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // A symlink (ELOOP), a FIFO or a device, a directory, a file we may
        // not read: not a temp of ours.
        Err(_) => return Err(claimed()),
    };
    let (owner, links) = sys::owner_and_links(&meta);
    if links != 1 || owner != sys::effective_uid() {
        return Err(claimed());
    }
    if !sys::try_lock(&file).ctx("flock", tmp)? {
        return Err(claimed());
    }
    // Unlocked, so its writer is dead; ours to remove while we hold its lock,
    // if it is still the file at the path.
    if still_at(&file, tmp) {
        fs::remove_file(tmp).ctx("unlink", tmp)?;
    }
    Ok(())
}

/// Whether the file at `path` (not following a symlink) is `file`.
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
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
    /// The factory opens by path; [`mmap`](AtomicChunked::mmap) instead works
    /// on the claimed descriptor itself, which nothing at the path can
    /// replace.
    ///
    /// # Errors
    /// `TmpClaimed` if another live writer holds the temp, or something other
    /// than a dead writer's temp is there; `Io`; or what the factory returns.
    pub fn open<F>(canonical: PathBuf, factory: F) -> StorageResult<Self>
    where
        F: Fn(&Path, OpenIntent) -> StorageResult<R> + Send + Sync + 'static,
    {
        Self::open_with(
            canonical,
            Box::new(move |path, _file, intent| factory(path, intent)),
        )
    }

    fn open_with(canonical: PathBuf, factory: Factory<R>) -> StorageResult<Self> {
        let claim = claim(&tmp_path_of(&canonical))?;
        let inner = match factory(&claim.tmp, &claim.file, OpenIntent::Fresh) {
            Ok(inner) => inner,
            Err(e) => {
                claim.abandon();
                return Err(e);
            }
        };
        let observers = Arc::new(Observers::default());
        inner.add_observer(Arc::new(Forward(Arc::clone(&observers))));
        Ok(Self {
            canonical,
            inner: RwLock::new(Arc::new(inner)),
            claim: Mutex::new(Some(claim)),
            closed: AtomicBool::new(false),
            discarded: Mutex::new(None),
            observers,
            factory: Some(factory),
        })
    }

    /// Wraps a resource that needs no atomic commit (an already committed
    /// file, or memory), delegating everything.
    pub fn passthrough(inner: R, canonical: PathBuf) -> Self {
        let observers = Arc::new(Observers::default());
        inner.add_observer(Arc::new(Forward(Arc::clone(&observers))));
        Self {
            canonical,
            inner: RwLock::new(Arc::new(inner)),
            claim: Mutex::new(None),
            closed: AtomicBool::new(false),
            discarded: Mutex::new(None),
            observers,
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
                claim.abandon();
                true
            }
            None => false,
        }
    }

    /// The temp becomes the file at the canonical path: durable first (its
    /// bytes, then the rename), with the mode (and owner, where permitted) of
    /// the file it replaces, through a symlink at the canonical path, never
    /// over a hard-linked file (see [`temp::replaced`]).
    fn publish(&self, held: &Claim) -> StorageResult<()> {
        held.file.sync_all().ctx("fsync", &held.tmp)?;
        let replaced: Replaced = temp::replaced(&self.canonical)?;
        replaced.carry_over(&held.file, &held.tmp)?;
        fs::rename(&held.tmp, &replaced.target).ctx("rename", &self.canonical)?;
        sys::sync_dir(temp::dir_of(&replaced.target));
        Ok(())
    }
}

impl AtomicChunked<MmapResource> {
    /// The file-backed form. If `opts.path` already holds a non-empty file and
    /// the mode is not `ReadWrite`, it opens committed with no claim, as
    /// `OpenMode::Auto` would; otherwise it claims `<path>.tmp` and writes
    /// there, on the claimed descriptor.
    ///
    /// # Errors
    /// As [`open`](Self::open); `Io` (`ENODEV`, `EISDIR`) if `opts.path` is
    /// not a regular file.
    pub fn mmap(cancel: CancellationToken, opts: MmapOptions) -> StorageResult<Self> {
        let existing = match fs::metadata(&opts.path) {
            Ok(meta) => {
                sys::check_regular_meta(&meta).ctx("open", &opts.path)?;
                meta.len() > 0
            }
            Err(_) => false,
        };
        if existing && opts.mode != OpenMode::ReadWrite {
            let canonical = opts.path.clone();
            return Ok(Self::passthrough(Resource::open(cancel, opts)?, canonical));
        }
        let initial_len = opts.initial_len.unwrap_or(DEFAULT_INITIAL_LEN);
        let read_only = opts.mode == OpenMode::ReadOnly;
        Self::open_with(
            opts.path,
            Box::new(move |path, file, intent| {
                let file = file.try_clone().ctx("open", path)?;
                let path = path.to_path_buf();
                let (driver, init) = match intent {
                    OpenIntent::Fresh => MmapDriver::on_new_file(file, path, initial_len)?,
                    OpenIntent::Reopen => MmapDriver::on_committed_file(file, path, read_only)?,
                };
                Ok(Resource::from_driver(cancel.clone(), driver, init, None))
            }),
        )
    }
}

impl<R: ResourceExt> ResourceExt for AtomicChunked<R> {
    fn commit(&self, final_len: Option<u64>) -> StorageResult<()> {
        let mut claim = self.claim.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let current = self.current();
        let Some(held) = claim.as_ref() else {
            // Already renamed (or passthrough): an ordinary commit.
            return current.commit(final_len);
        };
        current.commit(final_len)?;
        self.publish(held)?;
        // The claim ends with the rename: the next writer starts a new temp.
        // Unlocked now, so the committed file carries no claim's lock.
        let Some(held) = claim.take() else {
            return Ok(());
        };
        let _ = held.file.unlock();
        if let Some(factory) = &self.factory {
            let reopened = Arc::new(factory(&self.canonical, &held.file, OpenIntent::Reopen)?);
            // What was said about the file goes with it.
            let meta = current.metadata();
            if !meta.is_empty() {
                reopened.update_metadata(meta.into_iter().map(|(k, v)| (k, Some(v))).collect())?;
            }
            reopened.set_expected_len(current.expected_len())?;
            reopened.add_observer(Arc::new(Forward(Arc::clone(&self.observers))));
            // Readers holding the old one keep a valid (renamed) mapping until they drop it.
            *self.inner.write() = reopened;
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
        let mut claim = self.claim.lock();
        self.closed.store(true, Ordering::Release);
        self.current().close();
        if let Some(held) = claim.take() {
            held.abandon();
        }
        self.observers.clear();
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.canonical)
    }

    fn add_observer(&self, observer: Arc<dyn AvailabilityObserver>) -> ObserverId {
        self.observers.add(observer)
    }

    fn remove_observer(&self, id: ObserverId) -> bool {
        self.observers.remove(id)
    }

    forward_resource_ext!(current);
}

impl<R: ResourceExt> Drop for AtomicChunked<R> {
    fn drop(&mut self) {
        let _ = self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reclaim races, decided directly: between our failed create and
    /// our open, the stale temp may vanish (its reclaimer removed it), and
    /// between our create and our lock, another file may take its name.
    #[test]
    fn a_temp_that_vanished_before_the_reclaim_is_retried_not_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("a.bin.tmp");
        assert!(remove_stale(&tmp).is_ok());
        assert!(!tmp.exists());
    }

    #[cfg(unix)]
    #[test]
    fn still_at_needs_the_same_file_not_just_the_same_volume() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("a.bin.tmp");
        let other = dir.path().join("b.bin.tmp");
        let file = File::create(&ours).unwrap();
        File::create(&other).unwrap();
        assert!(still_at(&file, &ours));
        assert!(!still_at(&file, &other), "another file on the same volume");
        fs::rename(&other, &ours).unwrap();
        assert!(!still_at(&file, &ours), "replaced by a rename");
        fs::remove_file(&ours).unwrap();
        assert!(!still_at(&file, &ours), "removed");
    }
}
