//! [`AnyResource`]: every resource a binding can open, behind one type, with
//! the one rule every binding member follows after `close`.

use std::{ops::Range, sync::Arc, time::Duration};

use super::{SharedResource, RESOURCES};
use crate::{
    waiter::{block_on_wait, Abandon},
    Atomic, CancellationToken, MemOptions, Resource, ResourceExt, ResourceStatus, StorageError,
    StorageResource, StorageResult, WaitOptions, WaitOutcome,
};
#[cfg(not(target_arch = "wasm32"))]
use crate::{AtomicChunked, MmapOptions};

/// Which decorator a resource is opened behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// None: the resource as opened.
    Plain,
    /// [`Atomic`]: whole-file writes that replace the file at once.
    Atomic,
    /// [`AtomicChunked`](crate::AtomicChunked): writes at `<path>.tmp`,
    /// renamed onto the path at commit. Files only.
    Chunked,
}

/// The driver underneath a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A memory-mapped file.
    Mmap,
    /// Memory.
    Mem,
}

/// The variant of a [`ResourceStatus`], without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// [`ResourceStatus::Active`].
    Active,
    /// [`ResourceStatus::Committed`].
    Committed,
    /// [`ResourceStatus::Failed`].
    Failed,
    /// [`ResourceStatus::Cancelled`].
    Cancelled,
    /// [`ResourceStatus::Closed`].
    Closed,
}

/// A [`ResourceStatus`] as flat fields, the shape a binding returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Which state.
    pub kind: StatusKind,
    /// The final length, when committed.
    pub final_len: Option<u64>,
    /// Why, when failed.
    pub reason: Option<String>,
}

impl From<ResourceStatus> for Status {
    fn from(status: ResourceStatus) -> Self {
        let (kind, final_len, reason) = match status {
            ResourceStatus::Active => (StatusKind::Active, None, None),
            // Always `Some` for this crate's resources.
            ResourceStatus::Committed { final_len } => {
                (StatusKind::Committed, Some(final_len.unwrap_or(0)), None)
            }
            ResourceStatus::Failed(reason) => (StatusKind::Failed, None, Some(reason)),
            ResourceStatus::Cancelled => (StatusKind::Cancelled, None, None),
            ResourceStatus::Closed => (StatusKind::Closed, None, None),
        };
        Self {
            kind,
            final_len,
            reason,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Plain(StorageResource),
    Atomic(Atomic<StorageResource>),
    #[cfg(not(target_arch = "wasm32"))]
    Chunked(AtomicChunked),
}

/// A resource of any driver behind any decorator: what a binding's resource
/// class holds.
///
/// After [`close`](Self::close) every member but [`status`](Self::status)
/// (which says `Closed`) and [`is_closed`](Self::is_closed) fails with
/// [`StorageError::Closed`]: a binding reaches the resource only through
/// [`resource`](Self::resource), which checks it, so that rule is kept here
/// once for every member, present and future.
#[derive(Debug)]
pub struct AnyResource {
    inner: Inner,
}

impl AnyResource {
    fn shared(inner: Inner) -> SharedResource {
        RESOURCES.wrap(Self { inner })
    }

    fn with_decorator(plain: StorageResource, flavor: Flavor) -> StorageResult<Inner> {
        match flavor {
            Flavor::Plain => Ok(Inner::Plain(plain)),
            Flavor::Atomic => Ok(Inner::Atomic(Atomic::new(plain))),
            Flavor::Chunked => Err(StorageError::Unsupported(
                "AtomicChunked needs a file: open it with a path",
            )),
        }
    }

    /// Opens a file-backed resource behind `flavor`.
    ///
    /// # Errors
    /// As [`Resource::open`] and [`AtomicChunked::mmap`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_mmap(
        cancel: CancellationToken,
        opts: MmapOptions,
        flavor: Flavor,
    ) -> StorageResult<SharedResource> {
        let inner = match flavor {
            Flavor::Chunked => Inner::Chunked(AtomicChunked::mmap(cancel, opts)?),
            other => {
                let plain = StorageResource::Mmap(Resource::open(cancel, opts)?);
                Self::with_decorator(plain, other)?
            }
        };
        Ok(Self::shared(inner))
    }

    /// Opens an in-memory resource behind `flavor` (not `Chunked`).
    ///
    /// # Errors
    /// As [`Resource::open`]; `Unsupported` for `Chunked`.
    pub fn open_mem(
        cancel: CancellationToken,
        opts: MemOptions,
        flavor: Flavor,
    ) -> StorageResult<SharedResource> {
        let plain = StorageResource::Mem(Resource::open(cancel, opts)?);
        Ok(Self::shared(Self::with_decorator(plain, flavor)?))
    }

    fn ext(&self) -> &dyn ResourceExt {
        match &self.inner {
            Inner::Plain(r) => r,
            Inner::Atomic(r) => r,
            #[cfg(not(target_arch = "wasm32"))]
            Inner::Chunked(r) => r,
        }
    }

    /// The resource, for any member but `status`, `is_closed` and `close`.
    ///
    /// # Errors
    /// [`StorageError::Closed`] once [`close`](Self::close) was called (on
    /// this handle or any other handle of the same resource).
    pub fn resource(&self) -> StorageResult<&dyn ResourceExt> {
        let ext = self.ext();
        if ext.is_closed() {
            Err(StorageError::Closed)
        } else {
            Ok(ext)
        }
    }

    /// The driver underneath.
    pub fn kind(&self) -> ResourceKind {
        let plain = match &self.inner {
            Inner::Plain(r) => r,
            Inner::Atomic(r) => r.inner(),
            #[cfg(not(target_arch = "wasm32"))]
            Inner::Chunked(_) => return ResourceKind::Mmap,
        };
        match plain {
            #[cfg(not(target_arch = "wasm32"))]
            StorageResource::Mmap(_) => ResourceKind::Mmap,
            StorageResource::Mem(_) => ResourceKind::Mem,
        }
    }

    /// The lifecycle state; `Closed` after `close`.
    pub fn status(&self) -> Status {
        self.ext().status().into()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.ext().is_closed()
    }

    /// Releases the file (or buffer) now. Idempotent.
    pub fn close(&self) {
        self.ext().close();
    }

    /// The whole committed contents.
    ///
    /// # Errors
    /// As [`ResourceExt::read_into`].
    pub fn read_all(&self) -> StorageResult<Vec<u8>> {
        let mut all = Vec::new();
        self.resource()?.read_into(&mut all)?;
        Ok(all)
    }

    /// `write_all` with the bytes on disk before the rename: [`Atomic`]
    /// resources only (`AtomicChunked` always syncs at commit).
    ///
    /// # Errors
    /// `Unsupported` on a plain resource; otherwise as `write_all`.
    pub fn write_all_durable(&self, data: &[u8]) -> StorageResult<()> {
        self.resource()?;
        match &self.inner {
            Inner::Plain(_) => Err(StorageError::Unsupported(
                "writeAllDurable needs a resource opened with atomic: true",
            )),
            Inner::Atomic(r) => r.write_all_durable(data),
            #[cfg(not(target_arch = "wasm32"))]
            Inner::Chunked(r) => r.write_all(data),
        }
    }

    /// How many waits are pending on the resource: blocked
    /// `wait_range_with` calls of any thread and registered waiters. A
    /// diagnostic (tests use it to know that a waiter is registered before
    /// they act), not part of the bindings' public API.
    ///
    /// # Errors
    /// `Closed`.
    pub fn pending_waiters(&self) -> StorageResult<usize> {
        self.resource()?;
        Ok(match &self.inner {
            Inner::Plain(r) => r.pending_waiters(),
            Inner::Atomic(r) => r.inner().pending_waiters(),
            #[cfg(not(target_arch = "wasm32"))]
            Inner::Chunked(r) => r.current().pending_waiters(),
        })
    }

    /// Blocks the calling thread until `range` is decided, for at most
    /// `timeout_ms` milliseconds (`None`: no limit).
    ///
    /// # Errors
    /// As [`ResourceExt::wait_range_with`].
    pub fn wait_sync(
        &self,
        range: Range<u64>,
        timeout_ms: Option<f64>,
    ) -> StorageResult<WaitOutcome> {
        self.resource()?
            .wait_range_with(range, &Self::sync_options(timeout_ms))
    }

    /// [`wait_sync`](Self::wait_sync) that also gives up with `Cancelled`
    /// when `abandon()` answers `true`; it is asked every `every` while the
    /// wait sleeps (writes and the other events still wake the wait at
    /// once). For a thread whose runtime is stopping: nothing of the
    /// resource would ever wake it, and its runtime cannot stop while it is
    /// blocked (a Node worker under `terminate()` or `process.exit()`).
    ///
    /// # Errors
    /// As [`wait_sync`](Self::wait_sync); `Cancelled` when abandoned.
    pub fn wait_sync_or_abandon(
        &self,
        range: Range<u64>,
        timeout_ms: Option<f64>,
        every: Duration,
        abandon: &mut dyn FnMut() -> bool,
    ) -> StorageResult<WaitOutcome> {
        let resource = self.resource()?;
        let check = Abandon {
            every,
            check: abandon,
        };
        block_on_wait(
            |cb| resource.register_waiter(range, cb),
            &Self::sync_options(timeout_ms),
            Some(check),
        )
    }

    fn sync_options(timeout_ms: Option<f64>) -> WaitOptions {
        let mut opts = WaitOptions::new();
        // Clamped: Duration panics on what does not fit (1e15 ms is 31,000 years).
        opts.timeout = timeout_ms.map(|ms| Duration::from_secs_f64(ms.clamp(0.0, 1e15) / 1000.0));
        opts
    }
}

impl super::Shared<AnyResource> {
    /// The same resource behind an [`Atomic`] decorator (itself, if it is
    /// already atomic or chunked).
    ///
    /// # Errors
    /// `Closed`.
    pub fn atomic(self: &Arc<Self>) -> StorageResult<SharedResource> {
        self.resource()?;
        Ok(match &self.inner {
            Inner::Plain(r) => AnyResource::shared(Inner::Atomic(Atomic::new(r.clone()))),
            _ => Arc::clone(self),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(flavor: Flavor) -> SharedResource {
        AnyResource::open_mem(CancellationToken::new(), MemOptions::default(), flavor).unwrap()
    }

    #[test]
    fn after_close_only_status_and_is_closed_answer() {
        let res = mem(Flavor::Plain);
        res.resource().unwrap().write_at(0, b"abc").unwrap();
        res.resource().unwrap().commit(None).unwrap();
        assert_eq!(res.status().final_len, Some(3));
        let other = RESOURCES.lookup(res.share()).unwrap();
        other.close();
        assert!(res.is_closed());
        assert_eq!(res.status().kind, StatusKind::Closed);
        assert!(matches!(res.resource(), Err(StorageError::Closed)));
        assert!(matches!(res.read_all(), Err(StorageError::Closed)));
        assert!(matches!(res.atomic(), Err(StorageError::Closed)));
        assert!(matches!(
            res.write_all_durable(b"x"),
            Err(StorageError::Closed)
        ));
        assert!(matches!(
            res.wait_sync(0..1, None),
            Err(StorageError::Closed)
        ));
    }

    #[test]
    fn atomic_views_share_the_data_and_durable_writes_need_one() {
        let plain = mem(Flavor::Plain);
        assert!(matches!(
            plain.write_all_durable(b"x"),
            Err(StorageError::Unsupported(_))
        ));
        let atomic = plain.atomic().unwrap();
        assert!(Arc::ptr_eq(&atomic, &atomic.atomic().unwrap()));
        atomic.write_all_durable(b"hello").unwrap();
        assert_eq!(plain.read_all().unwrap(), b"hello");
        assert_eq!(
            (plain.kind(), atomic.kind()),
            (ResourceKind::Mem, ResourceKind::Mem)
        );
        assert!(matches!(
            AnyResource::open_mem(
                CancellationToken::new(),
                MemOptions::default(),
                Flavor::Chunked
            ),
            Err(StorageError::Unsupported(_))
        ));
    }

    #[test]
    fn an_abandoned_sync_wait_gives_up_and_is_withdrawn() {
        let res = mem(Flavor::Plain);
        // On another thread, bounded: a check that never ends the wait fails
        // this test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = Arc::clone(&res);
        std::thread::spawn(move || {
            let mut asked = 0;
            let mut abandon = || {
                asked += 1;
                asked == 3
            };
            let every = Duration::from_millis(1);
            let got = waiter.wait_sync_or_abandon(0..1, None, every, &mut abandon);
            let _ = tx.send((got, asked));
        });
        let (got, asked) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("an abandoned wait never returned");
        assert!(matches!(got, Err(StorageError::Cancelled)), "{got:?}");
        assert_eq!(asked, 3);
        // A write still wakes such a wait at once, and is what decides it.
        let res2 = mem(Flavor::Plain);
        let writer = {
            let handle = res2.share();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let r = RESOURCES.lookup(handle).unwrap();
                r.resource().unwrap().write_at(0, b"a").unwrap();
            })
        };
        let got = res2.wait_sync_or_abandon(0..1, None, Duration::from_secs(3600), &mut || false);
        assert_eq!(got.unwrap(), WaitOutcome::Ready);
        writer.join().unwrap();
    }

    #[test]
    fn a_blocked_sync_wait_sleeps_between_its_abandon_checks() {
        // Checked every 5 ms while a write comes 100 ms later: about 20
        // checks, never a busy loop (at most one per elapsed period, plus
        // the first and the last).
        let res = mem(Flavor::Plain);
        let writer = {
            let handle = res.share();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let r = RESOURCES.lookup(handle).unwrap();
                r.resource().unwrap().write_at(0, b"a").unwrap();
            })
        };
        let every = Duration::from_millis(5);
        let mut asked = 0u32;
        let started = std::time::Instant::now();
        let got = res.wait_sync_or_abandon(0..1, None, every, &mut || {
            asked += 1;
            false
        });
        let periods = started.elapsed().as_millis() / every.as_millis();
        assert_eq!(got.unwrap(), WaitOutcome::Ready);
        assert!(asked >= 1, "never checked");
        assert!(
            u128::from(asked) <= periods + 2,
            "{asked} checks in {periods} periods: a busy loop"
        );
        writer.join().unwrap();
    }

    #[test]
    fn a_timed_sync_wait_times_out() {
        let res = mem(Flavor::Plain);
        // On another thread, bounded: a timeout that never ends the wait
        // fails this test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = Arc::clone(&res);
        std::thread::spawn(move || tx.send(waiter.wait_sync(0..1, Some(1.0))));
        let waited = rx.recv_timeout(Duration::from_secs(10));
        assert!(
            matches!(waited, Ok(Err(StorageError::Timeout))),
            "{waited:?}"
        );
        assert_eq!(res.pending_waiters().unwrap(), 0);
        res.resource().unwrap().write_at(0, b"a").unwrap();
        assert_eq!(res.wait_sync(0..1, None).unwrap(), WaitOutcome::Ready);
    }
}
