//! [`WriterLock`]: one writer per data file, in any process.
//!
//! A handle that may write holds an exclusive advisory lock on the data file
//! it writes (`sys::try_lock`: `flock` on Unix, `LockFileEx` on one far byte
//! on Windows) for its life. The lock sits on a descriptor of its own, opened
//! for it alone, so it is released exactly when the handle lets it go (`close`
//! or the last drop), not whenever a checkpoint lets go of a clone of the data
//! descriptor; and by the kernel when the process dies, so `kill -9` frees it.
//!
//! What is locked is the file, not the path. Two rules follow:
//!
//! - **Lock, then look.** A writer committing a new generation may rename it
//!   over the path between our open and our lock, leaving us holding the lock
//!   of a file that is no longer there. So after locking, the file at the
//!   path must still be ours ([`Acquired::Replaced`] otherwise: open again).
//! - **The lock moves with the generation.** A writer renaming a new
//!   generation over the path locks the new file first (its own temp, which
//!   nobody else holds), renames, and only then lets the old lock go: the
//!   file at the path is never unlocked while its writer lives.
//!
//! The lock is advisory: it keeps out other writers of this crate, not
//! programs that ignore it. On network file systems it is only as good as the
//! file system's own locking (see the README).
#![forbid(unsafe_code)]

use std::{
    fs::{File, OpenOptions},
    path::Path,
};

use crate::{error::IoContext, sys, StorageError, StorageResult};

/// The exclusive lock of a writer on one data file; released on drop.
#[derive(Debug)]
pub(super) struct WriterLock {
    file: File,
}

impl Drop for WriterLock {
    /// Unlocks before the descriptor closes: a child process forked
    /// meanwhile (by any thread of this process) shares the descriptor's
    /// open file description until it execs, and would otherwise hold the
    /// lock that long, refusing a writer that reopens the file right after
    /// this close.
    fn drop(&mut self) {
        let _ = sys::unlock(&self.file);
    }
}

/// What trying the lock found.
#[derive(Debug)]
pub(super) enum Acquired {
    /// Ours until dropped.
    Held(WriterLock),
    /// Another writer, in this process or another, holds it.
    Busy,
    /// The file at the path is no longer the one we opened: open again.
    Replaced,
}

impl WriterLock {
    /// Tries to lock `data`, the file open at `path`, for writing.
    ///
    /// # Errors
    /// `Io` from opening or locking.
    pub(super) fn try_acquire(path: &Path, data: &File) -> StorageResult<Acquired> {
        let ours = sys::file_id(data).ctx("fstat", path)?;
        let file = OpenOptions::new().read(true).open(path).ctx("open", path)?;
        let same = |id: std::io::Result<sys::FileId>| id.is_ok_and(|id| id.same_file(&ours));
        if !same(sys::file_id(&file)) {
            return Ok(Acquired::Replaced);
        }
        if !sys::try_lock(&file).ctx("flock", path)? {
            return Ok(Acquired::Busy);
        }
        // Locked: is it still the file at the path?
        if !same(sys::path_id(path)) {
            return Ok(Acquired::Replaced);
        }
        Ok(Acquired::Held(Self { file }))
    }

    /// Locks `file`, a new generation created at `temp` that is about to be
    /// renamed over `data_path`.
    ///
    /// # Errors
    /// `Locked` if someone else locked the temp (it has a random name, so
    /// only by looking for it), `Io` otherwise.
    pub(super) fn for_temp(temp: &Path, file: &File, data_path: &Path) -> StorageResult<Self> {
        match Self::try_acquire(temp, file)? {
            Acquired::Held(lock) => Ok(lock),
            Acquired::Busy | Acquired::Replaced => Err(StorageError::Locked {
                path: data_path.to_path_buf(),
            }),
        }
    }
}
