#![forbid(unsafe_code)]
//! [`ResourceExt`]: the consumer-facing API every resource implements.

use std::{collections::BTreeMap, ops::Range, path::Path, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    waiter::{block_on_wait, WaitCallback, WaitFuture, WaitOptions, WaitRegistration},
    AvailabilityObserver, ObserverId, Recovery, ResourceStatus, StorageError, StorageResult,
    WaitOutcome,
};

/// Called once with the result of [`ResourceExt::sync_with`], on the
/// checkpoint thread (or on the caller's, where there is none).
pub type SyncCallback = Box<dyn FnOnce(StorageResult<()>) + Send>;

/// Random-access reads and writes, range waits and the lifecycle of a resource.
///
/// Streaming use: `write_at` pieces in any order, then `commit`. Whole-file
/// use: `write_all` and `read_into`. Readers `wait_range` (blocking) or
/// `wait_range_future` / `register_waiter` (non-blocking) before `read_at`.
pub trait ResourceExt: Send + Sync + 'static {
    /// Marks the resource finished. `Some(n)` truncates it to `n` bytes;
    /// `None` uses the end of the highest written byte. Every byte below the
    /// final length is then readable, pending waiters are decided (`Ready` or
    /// `Eof`) and growth slack is released.
    ///
    /// # Errors
    /// `Closed`, `ReadOnly`, `Cancelled`, `Failed`, or `Io` from truncation.
    fn commit(&self, final_len: Option<u64>) -> StorageResult<()>;

    /// Whether every byte of `range` has been written (an empty range is). Never blocks.
    fn contains_range(&self, range: Range<u64>) -> bool;

    /// Marks the resource failed: pending and later waits, reads and writes
    /// fail with [`StorageError::Failed`](crate::StorageError::Failed) until `reactivate`.
    fn fail(&self, reason: String);

    /// `true` once committed with length 0.
    fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The final length, once committed.
    fn len(&self) -> Option<u64>;

    /// The length the resource will be committed with, when it is known
    /// before the commit (see [`set_expected_len`](Self::set_expected_len)).
    fn expected_len(&self) -> Option<u64> {
        None
    }

    /// The length as far as it is known: the final length once committed,
    /// else the expected length.
    fn known_len(&self) -> Option<u64> {
        self.len().or_else(|| self.expected_len())
    }

    /// Sets (or with `None` clears) the length the resource will be
    /// committed with, known before the commit (a download's
    /// `Content-Length`). While it is set: a wait for a range at or past it
    /// is `Eof`, a wait for a range across it is `Ready` once the bytes below
    /// it are written, [`next_gap`](Self::next_gap) stops at it, a write past
    /// it fails with `LengthMismatch`, and [`commit`](Self::commit) commits at
    /// it, and only when every byte below it is written (`Incomplete`
    /// otherwise). With persisted ranges it is kept in the record.
    ///
    /// # Errors
    /// `Closed`; `LengthMismatch` if bytes are written past `len`, or the
    /// resource is committed at another length.
    fn set_expected_len(&self, len: Option<u64>) -> StorageResult<()> {
        let _ = len;
        Err(StorageError::Unsupported("expected length"))
    }

    /// Facts kept with the ranges (an ETag, a URL …): a small string map,
    /// kept in the range record with persisted ranges, else in memory.
    fn metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Sets (`Some`) or removes (`None`) metadata entries, all at once; with
    /// persisted ranges the next checkpoint records them.
    ///
    /// # Errors
    /// `Closed`, `ReadOnly`; `Unsupported` for the reserved key of the
    /// expected length, or for metadata over 64 KiB in all.
    fn update_metadata(&self, changes: Vec<(String, Option<String>)>) -> StorageResult<()> {
        let _ = changes;
        Err(StorageError::Unsupported("metadata"))
    }

    /// The first missing range in `from..limit` (clamped to the final length
    /// once committed), or `None` if it is all written.
    fn next_gap(&self, from: u64, limit: u64) -> Option<Range<u64>>;

    /// Every written range, merged and in order (`0..final_len` once committed).
    fn ranges(&self) -> Vec<Range<u64>>;

    /// How many bytes are written: the total length of [`ranges`](Self::ranges).
    fn present_bytes(&self) -> u64 {
        self.ranges().iter().map(|r| r.end - r.start).sum()
    }

    /// The backing file, or `None` in memory.
    fn path(&self) -> Option<&Path>;

    /// Committed (or failed) back to active, keeping the data, so more can be
    /// written (resuming a download). No-op when already active.
    ///
    /// # Errors
    /// `Closed`, `ReadOnly`, `Cancelled`, or `Io` reopening the file for writing.
    fn reactivate(&self) -> StorageResult<()>;

    /// Copies bytes at `offset` into `buf`; returns how many. Reads stop at
    /// the readable length (the final length once committed, else the end of
    /// the highest written byte); unwritten gaps below it read as zeros.
    ///
    /// # Errors
    /// `Closed`, `Failed`, `Cancelled`, or `Io`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize>;

    /// Reads the whole committed contents into `buf` (resized to fit);
    /// returns the length. Reads nothing before commit.
    ///
    /// # Errors
    /// As [`read_at`](Self::read_at).
    fn read_into(&self, buf: &mut Vec<u8>) -> StorageResult<usize> {
        let len = self.len().unwrap_or(0);
        let len = usize::try_from(len)
            .map_err(|_| crate::StorageError::Unsupported("resource larger than memory"))?;
        buf.clear();
        buf.resize(len, 0);
        let n = self.read_at(0, buf)?;
        buf.truncate(n);
        Ok(n)
    }

    /// The lifecycle state.
    fn status(&self) -> ResourceStatus;

    /// Blocks until `range` is decided: `Ready` when written, `Eof` when the
    /// resource is committed shorter, `Interrupted` on `interrupt`.
    ///
    /// # Errors
    /// `InvalidRange` if `start > end`, `Failed`, `Cancelled`, `Closed`.
    fn wait_range(&self, range: Range<u64>) -> StorageResult<WaitOutcome> {
        self.wait_range_with(range, &WaitOptions::default())
    }

    /// [`wait_range`](Self::wait_range) with a timeout and/or a per-wait
    /// token; either ends only this wait.
    ///
    /// # Errors
    /// As `wait_range`, plus `Timeout`, and `Cancelled` from the per-wait token.
    fn wait_range_with(&self, range: Range<u64>, opts: &WaitOptions) -> StorageResult<WaitOutcome> {
        block_on_wait(|cb| self.register_waiter(range, cb), opts, None)
    }

    /// [`wait_range`](Self::wait_range) that gives up with `Timeout`.
    ///
    /// # Errors
    /// As [`wait_range_with`](Self::wait_range_with).
    fn wait_range_timeout(
        &self,
        range: Range<u64>,
        timeout: Duration,
    ) -> StorageResult<WaitOutcome> {
        let opts = WaitOptions {
            timeout: Some(timeout),
            cancel: None,
        };
        self.wait_range_with(range, &opts)
    }

    /// [`wait_range`](Self::wait_range) that gives up with `Cancelled` when `cancel` fires,
    /// leaving the resource as it is.
    ///
    /// # Errors
    /// As [`wait_range_with`](Self::wait_range_with).
    fn wait_range_with_cancel(
        &self,
        range: Range<u64>,
        cancel: &CancellationToken,
    ) -> StorageResult<WaitOutcome> {
        let opts = WaitOptions {
            timeout: None,
            cancel: Some(cancel.clone()),
        };
        self.wait_range_with(range, &opts)
    }

    /// The wait as a future, for async code on any runtime.
    fn wait_range_future(&self, range: Range<u64>) -> WaitFuture {
        WaitFuture::new(|cb| self.register_waiter(range, cb))
    }

    /// The non-blocking primitive under every wait: decides `range` now if it
    /// can, otherwise keeps `callback` and calls it from the thread whose
    /// write, commit, fail, cancel, interrupt or close decides it.
    fn register_waiter(&self, range: Range<u64>, callback: WaitCallback) -> WaitRegistration;

    /// Wakes every current waiter with [`WaitOutcome::Interrupted`]. Later
    /// waits are unaffected.
    fn interrupt(&self);

    /// Releases the mapping and the file (or the buffer) now. Pending waiters
    /// fail with `Closed`, as does every later call. Closing twice is fine.
    fn close(&self);

    /// Whether [`close`](Self::close) was called.
    fn is_closed(&self) -> bool;

    /// Whether this resource follows a writer in another process: opened
    /// read-only on a file another process is writing (`persist_ranges`),
    /// its ranges, waits and status follow that writer live. Fixed at open.
    fn is_follower(&self) -> bool {
        false
    }

    /// Makes the written bytes durable and, with persisted ranges, records
    /// which ranges they are (data first, then the record). Blocks until
    /// done; writers and readers go on meanwhile. Nothing to do in memory.
    /// See [`sync_with`](Self::sync_with) for the non-blocking form.
    ///
    /// # Errors
    /// `Closed`, or `Io` from the flush or the record.
    fn flush(&self) -> StorageResult<()>;

    /// Adds an [`AvailabilityObserver`], told of every later write, the
    /// commit, a failure and the close. Every observer gets every event, from
    /// whichever thread makes the change. A decorator that switches the
    /// resource underneath keeps its observers across the switch. `close`
    /// drops every observer after telling them.
    fn add_observer(&self, observer: Arc<dyn AvailabilityObserver>) -> ObserverId;

    /// Removes an observer added with [`add_observer`](Self::add_observer);
    /// whether it was there.
    fn remove_observer(&self, id: ObserverId) -> bool;

    /// Writes `data` at 0 and commits with its length.
    ///
    /// # Errors
    /// As [`write_at`](Self::write_at) and [`commit`](Self::commit).
    fn write_all(&self, data: &[u8]) -> StorageResult<()> {
        self.write_at(0, data)?;
        self.commit(Some(data.len() as u64))
    }

    /// Replaces the whole contents with `data` and commits at its length, as
    /// one step: readers see the old contents until the new ones are complete,
    /// never a mix; on a file, the new contents are written beside it and
    /// renamed over it, so a crash leaves the old file or the new one.
    /// `durable`: the new bytes are on disk (fsync) before the rename. This is
    /// what [`Atomic`](crate::Atomic) is built on.
    ///
    /// The default reactivates and calls [`write_all`](Self::write_all).
    ///
    /// # Errors
    /// `Closed`, `ReadOnly`, `Cancelled`, or `Io`.
    fn replace_all(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        let _ = durable;
        self.reactivate()?;
        self.write_all(data)
    }

    /// Why the resource opened with less than its file seemed to hold (see
    /// [`Recovery`]); `Recovery::None` for memory and for files opened whole.
    fn recovery(&self) -> Recovery {
        Recovery::None
    }

    /// [`flush`](Self::flush) without blocking: runs it on the crate's
    /// checkpoint thread and then calls `callback` there with its result.
    /// Requests that arrive while one is queued share its flush. The callback
    /// is always called, with `Closed` if the resource closes first (after
    /// the final checkpoint of `close`, with that checkpoint's result).
    fn sync_with(&self, callback: SyncCallback) {
        callback(self.flush());
    }

    /// Writes `data` at `offset`, growing the storage as needed, and wakes the
    /// waiters the write satisfies.
    ///
    /// # Errors
    /// `Closed`, `ReadOnly`, `Committed` (unless opened `ReadWrite`),
    /// `Failed`, `Cancelled`, `InvalidRange` on overflow, `Io` (disk full).
    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()>;
}

/// Implements the [`ResourceExt`] methods that only read, write or wait by
/// forwarding them to the resource that `self.$target()` returns. With
/// `lifecycle`, also the ones that change or describe the lifecycle (commit,
/// fail, reactivate, close, path, observer), for wrappers that add nothing to
/// them ([`Atomic`](crate::Atomic), [`StorageResource`](crate::StorageResource)).
macro_rules! forward_resource_ext {
    ($target:ident) => {
        fn contains_range(&self, range: std::ops::Range<u64>) -> bool {
            self.$target().contains_range(range)
        }
        fn len(&self) -> Option<u64> {
            self.$target().len()
        }
        fn next_gap(&self, from: u64, limit: u64) -> Option<std::ops::Range<u64>> {
            self.$target().next_gap(from, limit)
        }
        fn ranges(&self) -> Vec<std::ops::Range<u64>> {
            self.$target().ranges()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::StorageResult<usize> {
            self.$target().read_at(offset, buf)
        }
        fn status(&self) -> crate::ResourceStatus {
            self.$target().status()
        }
        fn wait_range_with(
            &self,
            range: std::ops::Range<u64>,
            opts: &crate::WaitOptions,
        ) -> crate::StorageResult<crate::WaitOutcome> {
            self.$target().wait_range_with(range, opts)
        }
        fn register_waiter(
            &self,
            range: std::ops::Range<u64>,
            callback: crate::WaitCallback,
        ) -> crate::WaitRegistration {
            self.$target().register_waiter(range, callback)
        }
        fn interrupt(&self) {
            self.$target().interrupt()
        }
        fn is_closed(&self) -> bool {
            self.$target().is_closed()
        }
        fn is_follower(&self) -> bool {
            self.$target().is_follower()
        }
        fn flush(&self) -> crate::StorageResult<()> {
            self.$target().flush()
        }
        fn sync_with(&self, callback: crate::SyncCallback) {
            self.$target().sync_with(callback)
        }
        fn recovery(&self) -> crate::Recovery {
            self.$target().recovery()
        }
        fn expected_len(&self) -> Option<u64> {
            self.$target().expected_len()
        }
        fn set_expected_len(&self, len: Option<u64>) -> crate::StorageResult<()> {
            self.$target().set_expected_len(len)
        }
        fn metadata(&self) -> std::collections::BTreeMap<String, String> {
            self.$target().metadata()
        }
        fn update_metadata(
            &self,
            changes: Vec<(String, Option<String>)>,
        ) -> crate::StorageResult<()> {
            self.$target().update_metadata(changes)
        }
        fn write_at(&self, offset: u64, data: &[u8]) -> crate::StorageResult<()> {
            self.$target().write_at(offset, data)
        }
    };
    ($target:ident, lifecycle) => {
        crate::ext::forward_resource_ext!($target);
        fn commit(&self, final_len: Option<u64>) -> crate::StorageResult<()> {
            self.$target().commit(final_len)
        }
        fn fail(&self, reason: String) {
            self.$target().fail(reason)
        }
        fn reactivate(&self) -> crate::StorageResult<()> {
            self.$target().reactivate()
        }
        fn close(&self) {
            self.$target().close()
        }
        fn path(&self) -> Option<&std::path::Path> {
            self.$target().path()
        }
        fn add_observer(
            &self,
            observer: std::sync::Arc<dyn crate::AvailabilityObserver>,
        ) -> crate::ObserverId {
            self.$target().add_observer(observer)
        }
        fn remove_observer(&self, id: crate::ObserverId) -> bool {
            self.$target().remove_observer(id)
        }
        fn replace_all(&self, data: &[u8], durable: bool) -> crate::StorageResult<()> {
            self.$target().replace_all(data, durable)
        }
    };
}
pub(crate) use forward_resource_ext;
