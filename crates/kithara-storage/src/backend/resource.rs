#![forbid(unsafe_code)]
//! [`Resource<D>`]: the lifecycle, range tracking and waiters shared by every driver.
//!
//! One mutex guards the state (ranges, lifecycle, waiters); every transition
//! takes it, updates the state, collects the waiters it decides, releases it,
//! and only then runs their callbacks and the observer. Readers of ranges that
//! are already available never take it: two atomics publish the contiguous
//! written prefix and the readable length, and a third the failed / cancelled
//! / closed flags.
//!
//! # Lock order
//!
//! `Shared::state` is the lock of the state machine, and it is taken first:
//! under it a transition calls the driver, whose own locks (the mapping of a
//! file, the buffer of a memory resource) are only ever taken under it or
//! alone, never the other way round. A waiter's [`WaitHandle`] takes it alone.
//! The cancel watch takes it from the token's waker, with no lock of ours
//! held. `Inner::observers` is read only after `state` is released, and
//! callbacks and observers run with no lock held, so either may call back
//! into the resource.
//!
//! # Expected length
//!
//! `State::expected_len` is the length the resource will be committed with,
//! when it is known before the commit (a download's `Content-Length`). It is
//! consulted where waits are decided: a wait for a range at or past it is
//! `Eof`, and a wait for a range that crosses it is woken once the part below
//! it is written. Writes past it, commits at another length and commits with
//! bytes missing below it are refused, so an `Eof` once answered stays true.
//! It is kept in the range record's metadata, under [`EXPECTED_LEN_KEY`].
//!
//! # Why no wakeup is lost
//!
//! - A waiter is decided (`Shared::decide`) and, if undecided, inserted into
//!   `State::waiters` in one critical section of `state`.
//! - Every transition that can decide a waiter (write, commit, fail, cancel,
//!   interrupt, close, the last drop) changes the state and removes the
//!   waiters it decides in one critical section of `state`.
//! - So for a registration R and a transition T, one of the two critical
//!   sections comes first: either R sees T's change and decides at once, or
//!   T finds R's waiter and decides it. A callback is removed from `waiters`
//!   exactly once, by a transition or by `WaitHandle::cancel`/`resolve`, so
//!   it runs at most once, and a withdrawn wait never runs.
//! - The lock-free path only ever answers `Ready` for a range inside the
//!   published prefix with no flag set. The atomics are stored (`Release`)
//!   inside the critical section that changed the state; a reader that sees
//!   an older value falls through to the locked path, or answers as of a
//!   moment before the transition, which is as if it had run first.
//!
//! `tests/loom.rs` checks registration against a concurrent write, a
//! withdrawal and a cancel under every interleaving (see CONTRIBUTING.md).
//!
//! # Checkpoints
//!
//! Checkpoints (with persisted ranges) run in two halves: a snapshot of the
//! ranges under the lock (cheap), then the driver's flush and the record
//! without any lock, normally on the checkpoint thread (`crate::checkpoint`),
//! never inside `write_at`. Snapshots are numbered; a record is only written
//! for a snapshot newer than the last one recorded, so concurrent checkpoints
//! (the thread's, `flush`, `close`) never put an older record over a newer.
//!
//! # Followers
//!
//! A resource opened with a [`Feed`] follows a writer in another process
//! (see `follow`): queries first merge what the writer published
//! ([`Resource::follow`]), and a thread merges it while waits are pending.
//! Merging is a transition like a write: it adds ranges (or commits) and
//! takes the waiters it decides in one critical section of `state`.

use std::{
    collections::BTreeMap,
    fmt,
    ops::Range,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64 as StdAtomicU64},
        Arc, Weak,
    },
};

use rangemap::RangeSet;
use tokio_util::sync::CancellationToken;

use super::{
    follow::{Source, Target},
    Driver, DriverIo, DriverState, Feed,
};
use crate::{
    cancel::CancelWatch,
    checkpoint::{self, Job},
    observer::{ObserverId, Observers},
    sync::{AtomicU64, AtomicU8, Mutex, Ordering},
    waiter::{
        block_on_wait, WaitCallback, WaitHandle, WaitOptions, WaitRegistration, WaitResult,
        WaiterHost, WaiterKey, Waiters,
    },
    AvailabilityObserver, Recovery, ResourceExt, ResourceStatus, StorageError, StorageResult,
    SyncCallback, WaitOutcome,
};

/// The key of the expected length in the range record's metadata, reserved:
/// [`ResourceExt::update_metadata`] refuses it.
pub(crate) const EXPECTED_LEN_KEY: &str = "kithara.expected_len";

/// The most bytes of keys and values the metadata may hold: it is kept in
/// the range record and written with every checkpoint.
pub(crate) const MAX_METADATA_BYTES: usize = 64 * 1024;

const FAILED: u8 = 1;
const CANCELLED: u8 = 2;
const CLOSED: u8 = 4;

/// Callbacks collected under the lock, run after it is released.
type Wakes = Vec<(WaitCallback, WaitResult)>;

fn run(wakes: Wakes) {
    for (callback, result) in wakes {
        callback(result);
    }
}

struct State {
    available: RangeSet<u64>,
    final_len: Option<u64>,
    failed: Option<String>,
    closed: bool,
    read_only: bool,
    reopen_on_write: bool,
    waiters: Waiters,
    /// The length the resource will be committed with, known ahead (see the
    /// module docs).
    expected_len: Option<u64>,
    /// Facts kept with the ranges (ETag, URL …), persisted in the record.
    meta: BTreeMap<String, String>,
    /// Changed since the last checkpoint snapshot.
    dirty: bool,
    /// Number of the last checkpoint snapshot.
    snapshots: u64,
}

impl State {
    /// End of the highest available byte.
    fn high_water(&self) -> u64 {
        self.available.iter().next_back().map_or(0, |r| r.end)
    }

    /// End of the available prefix that starts at 0.
    fn prefix(&self) -> u64 {
        match self.available.iter().next() {
            Some(r) if r.start == 0 => r.end,
            _ => 0,
        }
    }

    fn covers(&self, range: &Range<u64>) -> bool {
        range.is_empty() || self.available.gaps(range).next().is_none()
    }

    /// Where waits end while active: the expected length, if known.
    fn wait_limit(&self) -> Option<u64> {
        if self.final_len.is_some() {
            None
        } else {
            self.expected_len
        }
    }

    /// The record's metadata: the user's, plus the expected length.
    fn record_meta(&self) -> BTreeMap<String, String> {
        let mut meta = self.meta.clone();
        if let Some(len) = self.expected_len {
            meta.insert(EXPECTED_LEN_KEY.to_owned(), len.to_string());
        }
        meta
    }

    /// Marks the resource finished at `len`: every byte below it available,
    /// every waiter decided.
    fn finish(&mut self, len: u64) -> Wakes {
        self.available = RangeSet::new();
        if len > 0 {
            self.available.insert(0..len);
        }
        self.final_len = Some(len);
        self.dirty = true;
        self.waiters
            .drain()
            .into_iter()
            .map(|(range, cb)| {
                let outcome = if range.start >= len {
                    WaitOutcome::Eof
                } else {
                    WaitOutcome::Ready
                };
                (cb, Ok(outcome))
            })
            .collect()
    }
}

/// What a checkpoint records, read under the state lock.
struct Snapshot {
    seq: u64,
    /// Empty unless the driver persists ranges.
    ranges: RangeSet<u64>,
    final_len: Option<u64>,
    epoch: u64,
    /// The record's metadata (see [`State::record_meta`]).
    meta: BTreeMap<String, String>,
}

/// The lock-protected core of a resource, free of the driver type so that
/// wait handles and the cancel watch can refer to it.
pub(crate) struct Shared {
    state: Mutex<State>,
    flags: AtomicU8,
    prefix: AtomicU64,
    readable_len: AtomicU64,
}

impl Shared {
    /// Republishes the atomics after a change of `st`. Called under the lock.
    fn publish(&self, st: &State) {
        self.prefix.store(st.prefix(), Ordering::Release);
        self.readable_len.store(st.high_water(), Ordering::Release);
        let mut flags = 0;
        if st.failed.is_some() {
            flags |= FAILED;
        }
        if st.closed {
            flags |= CLOSED;
        }
        flags |= self.flags.load(Ordering::Acquire) & CANCELLED;
        self.flags.store(flags, Ordering::Release);
    }

    fn cancelled(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CANCELLED != 0
    }

    /// Whether `reactivate` (or `replace_all`, which starts over the same
    /// way) is allowed: not closed, not read-only, and not cancelled unless
    /// committed (complete data may be rewritten after a cancel).
    fn may_reactivate(&self, st: &State) -> StorageResult<()> {
        if st.closed {
            Err(StorageError::Closed)
        } else if st.read_only {
            Err(StorageError::ReadOnly)
        } else if self.cancelled() && st.final_len.is_none() {
            Err(StorageError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The error every operation reports once the resource is unhealthy:
    /// closed, then failed, then cancelled.
    fn health(&self, st: &State) -> StorageResult<()> {
        if st.closed {
            Err(StorageError::Closed)
        } else if let Some(reason) = &st.failed {
            Err(StorageError::Failed(reason.clone()))
        } else if self.cancelled() {
            Err(StorageError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// How a wait for `range` ends, or `None` if it must wait.
    fn decide(&self, st: &State, range: &Range<u64>) -> Option<WaitResult> {
        if st.closed {
            return Some(Err(StorageError::Closed));
        }
        if range.start > range.end {
            return Some(Err(StorageError::invalid_range(range.start, range.end)));
        }
        if range.is_empty() {
            return Some(Ok(WaitOutcome::Ready));
        }
        if let Err(e) = self.health(st) {
            return Some(Err(e));
        }
        if st.covers(range) {
            return Some(Ok(WaitOutcome::Ready));
        }
        match (st.final_len, st.expected_len) {
            (Some(len), _) if range.start >= len => Some(Ok(WaitOutcome::Eof)),
            (Some(_), _) => Some(Ok(WaitOutcome::Ready)),
            (None, Some(len)) if range.start >= len => Some(Ok(WaitOutcome::Eof)),
            // Ready once the part below the expected length is written.
            (None, Some(len)) if st.covers(&(range.start..range.end.min(len))) => {
                Some(Ok(WaitOutcome::Ready))
            }
            (None, _) => None,
        }
    }

    /// Decides every pending waiter with `result`.
    fn drain_with(st: &mut State, result: impl Fn() -> WaitResult) -> Wakes {
        st.waiters
            .drain()
            .into_iter()
            .map(|(_, cb)| (cb, result()))
            .collect()
    }

    fn on_cancelled(&self) {
        let wakes = {
            let mut st = self.state.lock();
            self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
            if st.closed || st.failed.is_some() {
                Vec::new()
            } else {
                // A committed resource has decided all its waiters already.
                Self::drain_with(&mut st, || Err(StorageError::Cancelled))
            }
        };
        run(wakes);
    }

    fn register(self: &Arc<Self>, range: Range<u64>, callback: WaitCallback) -> WaitRegistration {
        if self.fast_ready(&range) {
            return WaitRegistration::Decided(Ok(WaitOutcome::Ready));
        }
        let mut st = self.state.lock();
        if let Some(result) = self.decide(&st, &range) {
            return WaitRegistration::Decided(result);
        }
        let limit = st.wait_limit();
        let key = st.waiters.insert(range, limit, callback);
        let host: Weak<dyn WaiterHost> = Arc::downgrade(self) as Weak<dyn WaiterHost>;
        WaitRegistration::Pending(WaitHandle::new(host, key))
    }

    /// The lock-free check: healthy and inside the written prefix.
    fn fast_ready(&self, range: &Range<u64>) -> bool {
        range.start <= range.end
            && self.flags.load(Ordering::Acquire) == 0
            && range.end <= self.prefix.load(Ordering::Acquire)
    }
}

impl WaiterHost for Shared {
    fn take_waiter(&self, key: WaiterKey) -> Option<WaitCallback> {
        self.state.lock().waiters.remove(key)
    }
}

struct Inner<D: DriverIo> {
    shared: Arc<Shared>,
    driver: D,
    cancel: CancellationToken,
    observers: Observers,
    recovery: Recovery,
    /// Set for a follower of a writer in another process.
    feed: Option<Feed>,
    // The checkpoint fields decide no waiter: plain std and parking_lot,
    // outside the loom shim (`crate::sync`).
    /// Set while a job of this resource waits on the checkpoint thread.
    queued: AtomicBool,
    /// `sync_with` callbacks for the next checkpoint job.
    syncs: parking_lot::Mutex<Vec<SyncCallback>>,
    /// Number of the last snapshot recorded; held while recording.
    recorded: parking_lot::Mutex<u64>,
    /// The same number, readable under the state lock.
    recorded_seq: StdAtomicU64,
    // Last field: dropped after the rest, unregistering from the token.
    _cancel_watch: CancelWatch,
}

/// A storage resource on driver `D`: random-access writes, range waits,
/// and the commit / fail / cancel / close lifecycle.
///
/// Cheap to clone: clones share one resource. Use the aliases
/// [`MmapResource`](crate::MmapResource) and [`MemResource`](crate::MemResource).
pub struct Resource<D: DriverIo> {
    inner: Arc<Inner<D>>,
    /// Shared by the clones only (the checkpoint thread holds `inner` alone):
    /// its drop is the drop of the last handle, on that handle's thread.
    _handles: Arc<Handles<D>>,
}

impl<D: DriverIo> Clone for Resource<D> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _handles: Arc::clone(&self._handles),
        }
    }
}

/// Runs [`Inner::release`] when the last handle goes, even while the
/// checkpoint thread still holds the resource for a moment: the last
/// checkpoint is written before that drop returns.
struct Handles<D: DriverIo>(Arc<Inner<D>>);

impl<D: DriverIo> Drop for Handles<D> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<D: DriverIo> fmt::Debug for Resource<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.shared.state.lock();
        f.debug_struct("Resource")
            .field("final_len", &st.final_len)
            .field("failed", &st.failed)
            .field("closed", &st.closed)
            .field("waiters", &st.waiters.len())
            .finish_non_exhaustive()
    }
}

impl<D: Driver> Resource<D> {
    /// Opens a resource; the type of `opts` picks the driver.
    ///
    /// # Errors
    /// Whatever the driver's `open` returns (`Io` for files).
    pub fn open(cancel: CancellationToken, opts: D::Options) -> StorageResult<Self> {
        Self::open_with_observer(cancel, opts, None)
    }

    /// [`open`](Self::open) with an [`AvailabilityObserver`] told of every
    /// write and of the commit.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_observer(
        cancel: CancellationToken,
        opts: D::Options,
        observer: Option<Arc<dyn AvailabilityObserver>>,
    ) -> StorageResult<Self> {
        let (driver, init) = D::open(opts)?;
        Ok(Self::from_driver(cancel, driver, init, observer))
    }
}

impl<D: DriverIo> Resource<D> {
    /// Wraps an opened driver (for drivers outside this crate).
    pub fn from_driver(
        cancel: CancellationToken,
        driver: D,
        init: DriverState,
        observer: Option<Arc<dyn AvailabilityObserver>>,
    ) -> Self {
        let DriverState {
            mut available,
            final_len,
            read_only,
            reopen_on_write,
            recovery,
            mut meta,
            feed,
        } = init;
        let expected_len = meta
            .remove(EXPECTED_LEN_KEY)
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = final_len {
            available.remove(len..u64::MAX);
            if len > 0 {
                available.insert(0..len);
            }
        }
        let state = State {
            available,
            final_len,
            failed: None,
            closed: false,
            read_only,
            reopen_on_write,
            waiters: Waiters::default(),
            expected_len,
            meta,
            dirty: false,
            snapshots: 0,
        };
        let shared = Arc::new(Shared {
            flags: AtomicU8::new(0),
            prefix: AtomicU64::new(0),
            readable_len: AtomicU64::new(0),
            state: Mutex::new(state),
        });
        shared.publish(&shared.state.lock());
        let weak = Arc::downgrade(&shared);
        let watch = CancelWatch::new(&cancel, move || {
            if let Some(shared) = weak.upgrade() {
                shared.on_cancelled();
            }
        });
        let observers = Observers::default();
        if let Some(observer) = observer {
            observers.add(observer);
        }
        let inner = Arc::new(Inner {
            shared,
            driver,
            cancel,
            observers,
            recovery,
            feed,
            queued: AtomicBool::new(false),
            syncs: parking_lot::Mutex::new(Vec::new()),
            recorded: parking_lot::Mutex::new(0),
            recorded_seq: StdAtomicU64::new(0),
            _cancel_watch: watch,
        });
        if let Some(feed) = &inner.feed {
            if inner.shared.state.lock().final_len.is_none() {
                let target: Weak<dyn Target> = Arc::downgrade(&inner) as Weak<dyn Target>;
                feed.start(target);
            }
        }
        Self {
            _handles: Arc::new(Handles(Arc::clone(&inner))),
            inner,
        }
    }

    /// For a follower: merges what its writer published since anyone last
    /// asked. Called first by every query, so answers are current.
    fn follow(&self) {
        if let Some(feed) = &self.inner.feed {
            feed.merge_into(&*self.inner);
        }
    }

    /// Whether this resource follows a writer in another process (see
    /// [`ResourceExt::is_follower`]).
    pub fn is_follower(&self) -> bool {
        self.inner.feed.is_some()
    }

    /// The token whose cancellation cancels this resource.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// Whether `other` is a clone of this same resource.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Makes the written bytes durable and, with persisted ranges, records
    /// which ranges they are; see [`ResourceExt::flush`]. Writers and readers
    /// go on while it waits for the disk.
    ///
    /// # Errors
    /// `Closed`, or `Io` from the flush or the record.
    pub fn flush(&self) -> StorageResult<()> {
        self.inner.checkpoint()
    }

    /// Hands a checkpoint to the checkpoint thread, unless one is queued.
    fn schedule(&self) {
        if !self.inner.queued.swap(true, Ordering::AcqRel) {
            let job: Weak<dyn Job> = Arc::downgrade(&self.inner) as Weak<dyn Job>;
            checkpoint::submit(job);
        }
    }

    /// The number of waits currently pending (for diagnostics and tests).
    pub fn pending_waiters(&self) -> usize {
        self.inner.shared.state.lock().waiters.len()
    }

    /// Tells every observer of an event, with no lock held.
    fn notify(&self, event: impl Fn(&dyn AvailabilityObserver)) {
        self.inner.observers.each(event);
    }
}

impl<D: DriverIo> ResourceExt for Resource<D> {
    fn commit(&self, final_len: Option<u64>) -> StorageResult<()> {
        let shared = &self.inner.shared;
        let (len, wakes) = {
            let mut st = shared.state.lock();
            if st.closed {
                return Err(StorageError::Closed);
            }
            if st.read_only {
                return Err(StorageError::ReadOnly);
            }
            shared.health(&st)?;
            let len = match (final_len, st.expected_len) {
                (Some(n), Some(expected)) if n != expected => {
                    return Err(StorageError::LengthMismatch { expected, got: n })
                }
                (Some(n), _) => n,
                (None, Some(expected)) => expected,
                (None, None) => st.high_water(),
            };
            if st.expected_len.is_some() {
                if let Some(gap) = st.available.gaps(&(0..len)).next() {
                    return Err(StorageError::Incomplete {
                        start: gap.start,
                        end: gap.end,
                    });
                }
            }
            self.inner.driver.commit(len)?;
            let wakes = st.finish(len);
            shared.publish(&st);
            (len, wakes)
        };
        run(wakes);
        // The record follows on the checkpoint thread (data first).
        self.schedule_record();
        self.notify(|o| o.on_commit(len));
        Ok(())
    }

    fn replace_all(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        let shared = &self.inner.shared;
        let len = data.len() as u64;
        let wakes = {
            let mut st = shared.state.lock();
            shared.may_reactivate(&st)?;
            if let Some(expected) = st.expected_len.filter(|&e| e != len) {
                return Err(StorageError::LengthMismatch { expected, got: len });
            }
            self.inner.driver.replace(data, durable)?;
            st.failed = None;
            let wakes = st.finish(len);
            shared.publish(&st);
            wakes
        };
        run(wakes);
        self.schedule_record();
        self.notify(|o| o.on_commit(len));
        Ok(())
    }

    fn recovery(&self) -> Recovery {
        self.inner.recovery
    }

    fn expected_len(&self) -> Option<u64> {
        self.inner.shared.state.lock().expected_len
    }

    fn set_expected_len(&self, len: Option<u64>) -> StorageResult<()> {
        let shared = &self.inner.shared;
        let wakes = {
            let mut st = shared.state.lock();
            if st.closed {
                return Err(StorageError::Closed);
            }
            if st.expected_len == len {
                return Ok(());
            }
            if let Some(n) = len {
                // What is known already must not contradict it.
                let known = st.final_len.unwrap_or_else(|| st.high_water());
                let contradicts = match st.final_len {
                    Some(fin) => fin != n,
                    None => known > n,
                };
                if contradicts {
                    return Err(StorageError::LengthMismatch {
                        expected: known,
                        got: n,
                    });
                }
            }
            st.expected_len = len;
            st.dirty = true;
            let limit = st.wait_limit();
            let State {
                waiters, available, ..
            } = &mut *st;
            // Waiters at or past the new length are decided now, and the rest
            // wait for their range clamped to it.
            waiters.redecide(limit, |range| match limit {
                Some(l) if range.start >= l => Some(Ok(WaitOutcome::Eof)),
                Some(l)
                    if available
                        .gaps(&(range.start..range.end.min(l)))
                        .next()
                        .is_none() =>
                {
                    Some(Ok(WaitOutcome::Ready))
                }
                _ => None,
            })
        };
        run(wakes);
        self.schedule_record();
        Ok(())
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        self.inner.shared.state.lock().meta.clone()
    }

    fn update_metadata(&self, changes: Vec<(String, Option<String>)>) -> StorageResult<()> {
        {
            let mut st = self.inner.shared.state.lock();
            if st.closed {
                return Err(StorageError::Closed);
            }
            if st.read_only {
                return Err(StorageError::ReadOnly);
            }
            if changes.iter().any(|(k, _)| k == EXPECTED_LEN_KEY) {
                return Err(StorageError::Unsupported(
                    "the expected length is set with set_expected_len",
                ));
            }
            let mut meta = st.meta.clone();
            for (key, value) in changes {
                match value {
                    Some(v) => meta.insert(key, v),
                    None => meta.remove(&key),
                };
            }
            let size: usize = meta.iter().map(|(k, v)| k.len() + v.len()).sum();
            if size > MAX_METADATA_BYTES {
                return Err(StorageError::Unsupported("metadata larger than 64 KiB"));
            }
            st.meta = meta;
            st.dirty = true;
        }
        self.schedule_record();
        Ok(())
    }

    fn add_observer(&self, observer: Arc<dyn AvailabilityObserver>) -> ObserverId {
        self.inner.observers.add(observer)
    }

    fn remove_observer(&self, id: ObserverId) -> bool {
        self.inner.observers.remove(id)
    }

    fn sync_with(&self, callback: SyncCallback) {
        if self.is_closed() {
            callback(Err(StorageError::Closed));
            return;
        }
        self.inner.syncs.lock().push(callback);
        self.schedule();
    }

    fn contains_range(&self, range: Range<u64>) -> bool {
        let shared = &self.inner.shared;
        if range.is_empty() || shared.fast_ready(&range) {
            return true;
        }
        self.follow();
        shared.state.lock().covers(&range)
    }

    fn fail(&self, reason: String) {
        let shared = &self.inner.shared;
        let wakes = {
            let mut st = shared.state.lock();
            if st.closed {
                return;
            }
            st.failed = Some(reason.clone());
            shared.publish(&st);
            Shared::drain_with(&mut st, || Err(StorageError::Failed(reason.clone())))
        };
        run(wakes);
        self.notify(|o| o.on_fail(&reason));
    }

    fn len(&self) -> Option<u64> {
        self.follow();
        self.inner.shared.state.lock().final_len
    }

    fn next_gap(&self, from: u64, limit: u64) -> Option<Range<u64>> {
        self.follow();
        let st = self.inner.shared.state.lock();
        let end = st.final_len.or(st.expected_len);
        let upper = end.map_or(limit, |len| len.min(limit));
        if from >= upper {
            return None;
        }
        st.available.gaps(&(from..upper)).next()
    }

    fn ranges(&self) -> Vec<Range<u64>> {
        self.follow();
        self.inner
            .shared
            .state
            .lock()
            .available
            .iter()
            .cloned()
            .collect()
    }

    fn path(&self) -> Option<&Path> {
        self.inner.driver.path()
    }

    fn reactivate(&self) -> StorageResult<()> {
        let shared = &self.inner.shared;
        let mut st = shared.state.lock();
        shared.may_reactivate(&st)?;
        self.inner.reopen(&mut st)?;
        st.failed = None;
        shared.publish(&st);
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize> {
        let shared = &self.inner.shared;
        if shared.flags.load(Ordering::Acquire) != 0 {
            shared.health(&shared.state.lock())?;
        }
        let mut limit = shared.readable_len.load(Ordering::Acquire);
        if self.inner.feed.is_some() && offset.saturating_add(buf.len() as u64) > limit {
            self.follow();
            limit = shared.readable_len.load(Ordering::Acquire);
        }
        if buf.is_empty() || offset >= limit {
            return Ok(0);
        }
        let n = usize::try_from(limit - offset).map_or(buf.len(), |avail| avail.min(buf.len()));
        self.inner.driver.read_at(offset, &mut buf[..n])
    }

    fn status(&self) -> ResourceStatus {
        self.follow();
        let shared = &self.inner.shared;
        let st = shared.state.lock();
        if st.closed {
            ResourceStatus::Closed
        } else if let Some(reason) = &st.failed {
            ResourceStatus::Failed(reason.clone())
        } else if let Some(len) = st.final_len {
            ResourceStatus::Committed {
                final_len: Some(len),
            }
        } else if shared.cancelled() {
            ResourceStatus::Cancelled
        } else {
            ResourceStatus::Active
        }
    }

    fn register_waiter(&self, range: Range<u64>, callback: WaitCallback) -> WaitRegistration {
        let Some(feed) = &self.inner.feed else {
            return self.inner.shared.register(range, callback);
        };
        if !self.inner.shared.fast_ready(&range) {
            self.follow();
        }
        let registration = self.inner.shared.register(range, callback);
        if matches!(registration, WaitRegistration::Pending(_)) {
            // The follow thread now waits for the writer's next write.
            feed.poke();
        }
        registration
    }

    fn wait_range_with(&self, range: Range<u64>, opts: &WaitOptions) -> StorageResult<WaitOutcome> {
        // Answer an available range before allocating anything for a wait.
        if self.inner.shared.fast_ready(&range) {
            return Ok(WaitOutcome::Ready);
        }
        block_on_wait(|cb| self.register_waiter(range, cb), opts, None)
    }

    fn interrupt(&self) {
        let wakes = {
            let mut st = self.inner.shared.state.lock();
            Shared::drain_with(&mut st, || Ok(WaitOutcome::Interrupted))
        };
        run(wakes);
    }

    fn close(&self) {
        let shared = &self.inner.shared;
        let (last, wakes) = {
            let mut st = shared.state.lock();
            if st.closed {
                return;
            }
            let last = self.inner.last_snapshot(&mut st);
            st.closed = true;
            shared.publish(&st);
            (
                last,
                Shared::drain_with(&mut st, || Err(StorageError::Closed)),
            )
        };
        run(wakes);
        if let Some(feed) = &self.inner.feed {
            feed.stop();
        }
        // The last checkpoint, here and now (a process may exit right after
        // `close`), but outside the lock.
        let result = last.map_or(Ok(()), |snap| self.inner.record(snap));
        self.inner.driver.close();
        self.inner.answer_syncs(&result);
        self.notify(|o| o.on_close());
        // Nothing more to tell: let the observers go (a binding's observer
        // may hold what keeps a JavaScript thread alive).
        self.inner.observers.clear();
    }

    fn is_closed(&self) -> bool {
        self.inner.shared.flags.load(Ordering::Acquire) & CLOSED != 0
    }

    fn is_follower(&self) -> bool {
        Resource::is_follower(self)
    }

    fn flush(&self) -> StorageResult<()> {
        Resource::flush(self)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        let shared = &self.inner.shared;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(StorageError::InvalidRange {
                start: offset,
                end: u64::MAX,
            })?;
        let range = offset..end;
        let wakes = {
            let mut st = shared.state.lock();
            if st.closed {
                return Err(StorageError::Closed);
            }
            if st.read_only {
                return Err(StorageError::ReadOnly);
            }
            shared.health(&st)?;
            if let Some(expected) = st.expected_len.filter(|&e| end > e && !data.is_empty()) {
                return Err(StorageError::LengthMismatch { expected, got: end });
            }
            if st.final_len.is_some() {
                if !st.reopen_on_write {
                    return Err(StorageError::Committed);
                }
                self.inner.reopen(&mut st)?;
            }
            if data.is_empty() {
                return Ok(());
            }
            self.inner.driver.write_at(offset, data)?;
            st.dirty = true;
            // Rewriting bytes that are all present already (one lookup)
            // changes no range and satisfies no waiter: a pending waiter's
            // range is never all present (waits register under this lock
            // only when it is not, and every insert takes the ones it
            // completes).
            let woken = match st.available.get(&offset) {
                Some(have) if have.end >= end => Vec::new(),
                _ => {
                    st.available.insert(range.clone());
                    let span = st
                        .available
                        .get(&offset)
                        .cloned()
                        .unwrap_or_else(|| range.clone());
                    st.waiters.take_within(&span)
                }
            };
            shared.publish(&st);
            woken
        };
        if self.inner.driver.checkpoint_due() {
            // On the checkpoint thread: never a disk wait inside `write_at`.
            self.schedule();
        }
        for callback in wakes {
            callback(Ok(WaitOutcome::Ready));
        }
        self.notify(|o| o.on_write(range.clone()));
        Ok(())
    }
}

impl<D: DriverIo> Resource<D> {
    /// After a change the record must learn of (commit): a checkpoint on the
    /// checkpoint thread, if the driver keeps a record.
    fn schedule_record(&self) {
        if self.inner.driver.persists_ranges() {
            self.schedule();
        }
    }
}

impl<D: DriverIo> Inner<D> {
    /// Back to active: the next generation of a committed resource, or, if
    /// the driver lost bytes under us (a file someone else cut), a fresh
    /// start with nothing present, since nothing proves which bytes
    /// survived. Under the lock.
    fn reopen(&self, st: &mut State) -> StorageResult<()> {
        let lost = self.driver.lost();
        if st.final_len.is_some() || lost {
            self.driver.reactivate()?;
            st.final_len = None;
        }
        if lost {
            st.available = RangeSet::new();
            st.dirty = true;
        }
        Ok(())
    }

    /// Numbers and takes a snapshot of what a checkpoint records. Under the lock.
    fn snapshot(&self, st: &mut State) -> Snapshot {
        st.snapshots += 1;
        st.dirty = false;
        let ranges = if self.driver.persists_ranges() {
            st.available.clone()
        } else {
            RangeSet::new()
        };
        Snapshot {
            seq: st.snapshots,
            ranges,
            final_len: st.final_len,
            epoch: self.driver.epoch(),
            meta: if self.driver.persists_ranges() {
                st.record_meta()
            } else {
                BTreeMap::new()
            },
        }
    }

    /// The snapshot `close` and drop record, if the record is behind: there
    /// are changes since the last snapshot, or that one is still being
    /// recorded (by the checkpoint thread; recording a newer one here waits
    /// for it, so the record is current when `close` or drop returns).
    fn last_snapshot(&self, st: &mut State) -> Option<Snapshot> {
        let in_flight = st.snapshots > self.recorded_seq.load(Ordering::Acquire);
        ((st.dirty || in_flight) && self.driver.persists_ranges()).then(|| self.snapshot(st))
    }

    /// Makes the bytes of `snap` durable, then records which ranges they are
    /// (with persisted ranges): data first, so the record never claims bytes
    /// that are not on disk. Called without the state lock.
    fn record(&self, snap: Snapshot) -> StorageResult<()> {
        self.driver.flush()?;
        let mut recorded = self.recorded.lock();
        if snap.seq <= *recorded {
            // A newer snapshot is recorded already.
            return Ok(());
        }
        self.driver
            .persist_ranges(&snap.ranges, snap.final_len, snap.epoch, &snap.meta)?;
        *recorded = snap.seq;
        self.recorded_seq.store(snap.seq, Ordering::Release);
        Ok(())
    }

    /// A whole checkpoint: snapshot, flush, record.
    fn checkpoint(&self) -> StorageResult<()> {
        let snap = {
            let mut st = self.shared.state.lock();
            if st.closed {
                return Err(StorageError::Closed);
            }
            self.snapshot(&mut st)
        };
        self.record(snap)
    }

    /// Calls the pending `sync_with` callbacks with `result`.
    fn answer_syncs(&self, result: &StorageResult<()>) {
        let syncs = std::mem::take(&mut *self.syncs.lock());
        for callback in syncs {
            callback(result.clone());
        }
    }
}

impl<D: DriverIo> Job for Inner<D> {
    fn run(&self) {
        // Cleared first: a write after this point queues the next job.
        self.queued.store(false, Ordering::Release);
        let syncs = std::mem::take(&mut *self.syncs.lock());
        let snap = {
            let mut st = self.shared.state.lock();
            (!st.closed).then(|| self.snapshot(&mut st))
        };
        #[cfg(feature = "test-hooks")]
        checkpoint::hooks::before_record();
        let result = snap.map_or(Err(StorageError::Closed), |snap| self.record(snap));
        for callback in syncs {
            callback(result.clone());
        }
    }
}

impl<D: DriverIo> Inner<D> {
    /// The last handle is gone: record what a reopen needs (unless closed),
    /// and fail the waiters nobody can decide any more.
    fn release(&self) {
        let (last, wakes) = {
            let mut st = self.shared.state.lock();
            // Dropped without close: keep what a reopen needs.
            let last = if st.closed {
                None
            } else {
                self.last_snapshot(&mut st)
            };
            // Nobody can decide the waiters that are left.
            (
                last,
                Shared::drain_with(&mut st, || Err(StorageError::Closed)),
            )
        };
        run(wakes);
        if let Some(feed) = &self.feed {
            feed.stop();
        }
        let result = last.map_or(Ok(()), |snap| self.record(snap));
        self.answer_syncs(&result);
        self.observers.clear();
        // Nobody can use the storage any more: release it (and the writer's
        // lock) now, not whenever the checkpoint thread lets go of it.
        self.driver.close();
    }
}

impl<D: DriverIo> Target for Inner<D> {
    fn absorb(&self, source: &dyn Source) -> bool {
        let shared = &self.shared;
        let mut fresh = Vec::new();
        let (wakes, final_len, gone) = {
            // Lock order: the state lock, then the source's own.
            let mut st = shared.state.lock();
            if st.closed || st.final_len.is_some() {
                return true;
            }
            let Some(update) = source.poll() else {
                return false;
            };
            let mut woken = Vec::new();
            for range in update.ranges {
                if range.is_empty() || st.covers(&range) {
                    continue;
                }
                // A writer may publish ranges this follower partly knows:
                // its observers hear only the bytes new to it.
                fresh.extend(st.available.gaps(&range));
                st.available.insert(range.clone());
                let span = st
                    .available
                    .get(&range.start)
                    .cloned()
                    .unwrap_or_else(|| range.clone());
                woken.extend(st.waiters.take_within(&span));
            }
            let mut wakes: Wakes = woken
                .into_iter()
                .map(|cb| (cb, Ok(WaitOutcome::Ready)))
                .collect();
            if let Some(len) = update.final_len {
                wakes.extend(st.finish(len));
            } else if update.gone {
                let reason = "the followed file was replaced at its path".to_owned();
                st.failed = Some(reason.clone());
                wakes.extend(Shared::drain_with(&mut st, || {
                    Err(StorageError::Failed(reason.clone()))
                }));
            }
            // A follower records nothing: the writer keeps the record.
            st.dirty = false;
            shared.publish(&st);
            (wakes, update.final_len, update.gone)
        };
        run(wakes);
        for range in fresh {
            self.observers.each(|o| o.on_write(range.clone()));
        }
        if let Some(len) = final_len {
            self.observers.each(|o| o.on_commit(len));
        }
        final_len.is_some() || gone
    }

    fn pending(&self) -> bool {
        self.shared.state.lock().waiters.len() > 0
    }
}
