//! `Resource`: the core's [`AnyResource`] (any driver, any decorator) as a
//! JavaScript class. Each member converts its arguments, calls the core and
//! converts the result; the rules (including "closed means closed") are the
//! core's.

use std::{cell::Cell, collections::HashMap, ops::Range, path::PathBuf, sync::Arc};

use kithara_storage::{
    binding::{
        flat_ranges, to_f64, to_u64, AnyResource, ErrorDetails, SharedResource, RESOURCES, TOKENS,
    },
    AvailabilityObserver, MemOptions, MmapOptions, ObserverId,
};
use napi::{
    bindgen_prelude::{Buffer, Either, FnArgs, Function, Object},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Env,
};
use napi_derive::napi;

use crate::{
    error::{error_value, OrThrow},
    names::{Flavor, OpenMode, ProgressEvent, Recovery, ResourceKind, StatusKind, WaitOutcome},
    token::NodeToken,
    wait,
};

/// A resource's lifecycle state (`finalLen` once committed, `reason` once failed).
#[napi(object)]
pub struct Status {
    /// Which state.
    pub kind: StatusKind,
    /// Length of a committed resource.
    pub final_len: Option<f64>,
    /// Why a failed resource failed.
    pub reason: Option<String>,
}

/// What an observer is called with: `(event, a, b, reason)`.
type ObserverArgs = (ProgressEvent, f64, f64, Option<String>);

/// Progress events, delivered on the thread that called `setObserver`.
type ObserverFn =
    ThreadsafeFunction<ObserverArgs, (), FnArgs<ObserverArgs>, napi::Status, false, true>;

/// Forwards the core's availability events to a JavaScript function.
struct JsObserver(ObserverFn);

impl JsObserver {
    fn send(&self, args: ObserverArgs) {
        // Non-blocking: the writer never waits for JavaScript. It only fails
        // while the thread's env shuts down, when nobody is listening.
        let _ = self.0.call(args, ThreadsafeFunctionCallMode::NonBlocking);
    }
}

impl AvailabilityObserver for JsObserver {
    fn on_write(&self, range: Range<u64>) {
        self.send((
            ProgressEvent::Write,
            to_f64(range.start),
            to_f64(range.end),
            None,
        ));
    }

    fn on_commit(&self, final_len: u64) {
        self.send((ProgressEvent::Commit, to_f64(final_len), 0.0, None));
    }

    fn on_fail(&self, reason: &str) {
        self.send((ProgressEvent::Fail, 0.0, 0.0, Some(reason.to_owned())));
    }

    fn on_close(&self) {
        self.send((ProgressEvent::Close, 0.0, 0.0, None));
    }
}

/// How `sync()` settles its promise, on the JavaScript thread.
type SyncSettle = Box<dyn FnOnce(Env) -> napi::Result<()> + Send>;

/// The caller's `Uint8Array`, borrowed mutably for the call (any byte
/// offset, any backing store). Spelled as an alias so the generated glue
/// converts it with `napi_get_typedarray_info` rather than as a class reference.
type BytesMut<'a> = &'a mut [u8];

/// A storage resource (file or memory, possibly behind `Atomic` or
/// `AtomicChunked`).
#[napi(js_name = "Resource")]
pub struct NodeResource {
    res: SharedResource,
    /// This object's observer among the resource's observers.
    observer: Cell<Option<ObserverId>>,
}

impl NodeResource {
    fn new(res: SharedResource) -> Self {
        Self {
            res,
            observer: Cell::new(None),
        }
    }

    /// Removes this object's observer from the resource, if it has one.
    fn drop_observer(&self) {
        if let Some(id) = self.observer.take() {
            // Closed: `close` dropped every observer already.
            if let Ok(r) = self.res.resource() {
                r.remove_observer(id);
            }
        }
    }
}

impl Drop for NodeResource {
    /// A collected object (or one of a worker that exits) stops listening;
    /// the other objects of the resource, on any thread, go on.
    fn drop(&mut self) {
        self.drop_observer();
    }
}

fn range(start: f64, end: f64) -> Range<u64> {
    to_u64(start)..to_u64(end)
}

#[napi]
impl NodeResource {
    /// Which driver is underneath.
    #[napi(getter)]
    pub fn kind(&self) -> ResourceKind {
        self.res.kind().into()
    }

    /// Writes `data` at `offset` (read straight from the caller's bytes).
    #[napi]
    pub fn write_at(&self, env: Env, offset: f64, data: &[u8]) -> napi::Result<()> {
        let r = self.res.resource().or_throw(&env)?;
        r.write_at(to_u64(offset), data).or_throw(&env)
    }

    /// Copies bytes at `offset` straight into `buf`; returns how many.
    #[napi(ts_args_type = "offset: number, buf: Uint8Array")]
    pub fn read_at(&self, env: Env, offset: f64, buf: BytesMut<'_>) -> napi::Result<f64> {
        let r = self.res.resource().or_throw(&env)?;
        let n = r.read_at(to_u64(offset), buf).or_throw(&env)?;
        Ok(to_f64(n as u64))
    }

    /// Writes `data` at 0 and commits with its length (atomically for `Atomic`).
    #[napi]
    pub fn write_all(&self, env: Env, data: &[u8]) -> napi::Result<()> {
        self.res
            .resource()
            .or_throw(&env)?
            .write_all(data)
            .or_throw(&env)
    }

    /// `writeAll` with the bytes on disk before the rename (`Atomic` only).
    #[napi]
    pub fn write_all_durable(&self, env: Env, data: &[u8]) -> napi::Result<()> {
        self.res.write_all_durable(data).or_throw(&env)
    }

    /// The whole committed contents, in a new buffer.
    #[napi]
    pub fn read_all(&self, env: Env) -> napi::Result<Buffer> {
        Ok(Buffer::from(self.res.read_all().or_throw(&env)?))
    }

    /// The outcome if decided now, else the id the dispatcher will be called with.
    #[napi]
    pub fn wait_range(
        &self,
        env: Env,
        start: f64,
        end: f64,
    ) -> napi::Result<Either<WaitOutcome, f64>> {
        let r = self.res.resource().or_throw(&env)?;
        wait::register(&env, r, range(start, end))
    }

    /// Withdraws pending wait `id`; whether it was still pending.
    #[napi]
    pub fn cancel_wait(&self, env: Env, id: f64) -> bool {
        wait::withdraw(&env, id)
    }

    /// Blocks this thread until the range is decided, for at most
    /// `timeoutMs` (none: no limit), or until this thread is stopped
    /// (`worker.terminate()`, `process.exit()`): then it returns nothing.
    #[napi]
    pub fn wait_range_sync(
        &self,
        env: Env,
        start: f64,
        end: f64,
        timeout_ms: Option<f64>,
    ) -> napi::Result<WaitOutcome> {
        let mut stopping = false;
        let outcome = self.res.wait_sync_or_abandon(
            range(start, end),
            timeout_ms,
            wait::STOP_CHECK_EVERY,
            &mut || {
                stopping = wait::env_is_stopping(&env);
                stopping
            },
        );
        if stopping {
            // No JavaScript runs on this thread any more: nothing to throw to.
            return Err(napi::Error::new(
                napi::Status::Cancelled,
                "the thread is stopping",
            ));
        }
        Ok(outcome.or_throw(&env)?.into())
    }

    /// Waits pending in the core on this resource (blocked `waitRangeSync`
    /// calls of any thread, registered `waitRange`s). A diagnostic for tests,
    /// not public API: the facade does not expose it.
    #[napi]
    pub fn pending_waiters(&self, env: Env) -> napi::Result<f64> {
        let n = self.res.pending_waiters().or_throw(&env)?;
        Ok(to_f64(n as u64))
    }

    /// Whether every byte of `start..end` is written. Never blocks.
    #[napi]
    pub fn contains_range(&self, env: Env, start: f64, end: f64) -> napi::Result<bool> {
        Ok(self
            .res
            .resource()
            .or_throw(&env)?
            .contains_range(range(start, end)))
    }

    /// The first missing range in `from..limit` as `[start, end]`, or null.
    #[napi]
    pub fn next_gap(&self, env: Env, from: f64, limit: f64) -> napi::Result<Option<Vec<f64>>> {
        let r = self.res.resource().or_throw(&env)?;
        Ok(r.next_gap(to_u64(from), to_u64(limit))
            .map(|g| flat_ranges([g])))
    }

    /// Every written range, merged and in order, as `[start0, end0, start1, …]`.
    #[napi]
    pub fn ranges(&self, env: Env) -> napi::Result<Vec<f64>> {
        Ok(flat_ranges(self.res.resource().or_throw(&env)?.ranges()))
    }

    /// How many bytes are written.
    #[napi]
    pub fn present_bytes(&self, env: Env) -> napi::Result<f64> {
        Ok(to_f64(self.res.resource().or_throw(&env)?.present_bytes()))
    }

    /// Finishes writing; no `finalLen` means the end of the highest written byte.
    #[napi]
    pub fn commit(&self, env: Env, final_len: Option<f64>) -> napi::Result<()> {
        let r = self.res.resource().or_throw(&env)?;
        r.commit(final_len.map(to_u64)).or_throw(&env)
    }

    /// Marks the resource failed with `reason`.
    #[napi]
    pub fn fail(&self, env: Env, reason: String) -> napi::Result<()> {
        self.res.resource().or_throw(&env)?.fail(reason);
        Ok(())
    }

    /// Committed or failed back to active, keeping the data.
    #[napi]
    pub fn reactivate(&self, env: Env) -> napi::Result<()> {
        self.res
            .resource()
            .or_throw(&env)?
            .reactivate()
            .or_throw(&env)
    }

    /// Wakes the current waiters with `interrupted`.
    #[napi]
    pub fn interrupt(&self, env: Env) -> napi::Result<()> {
        self.res.resource().or_throw(&env)?.interrupt();
        Ok(())
    }

    /// The lifecycle state (`closed` after `close`).
    #[napi]
    pub fn status(&self) -> Status {
        let s = self.res.status();
        Status {
            kind: s.kind.into(),
            final_len: s.final_len.map(to_f64),
            reason: s.reason,
        }
    }

    /// The final length once committed, else the expected length, else null.
    #[napi]
    pub fn len(&self, env: Env) -> napi::Result<Option<f64>> {
        Ok(self.res.resource().or_throw(&env)?.known_len().map(to_f64))
    }

    /// Whether the final length is known to be 0.
    #[napi]
    pub fn is_empty(&self, env: Env) -> napi::Result<bool> {
        Ok(self.res.resource().or_throw(&env)?.is_empty())
    }

    /// The expected length, or null.
    #[napi]
    pub fn expected_len(&self, env: Env) -> napi::Result<Option<f64>> {
        Ok(self
            .res
            .resource()
            .or_throw(&env)?
            .expected_len()
            .map(to_f64))
    }

    /// Sets (or with null clears) the expected length.
    #[napi]
    pub fn set_expected_len(&self, env: Env, len: Option<f64>) -> napi::Result<()> {
        let r = self.res.resource().or_throw(&env)?;
        r.set_expected_len(len.map(to_u64)).or_throw(&env)
    }

    /// The metadata kept with the range record.
    #[napi(ts_return_type = "Record<string, string>")]
    pub fn metadata(&self, env: Env) -> napi::Result<HashMap<String, String>> {
        Ok(self
            .res
            .resource()
            .or_throw(&env)?
            .metadata()
            .into_iter()
            .collect())
    }

    /// Sets (a string) or removes (null) metadata entries, all at once.
    #[napi(ts_args_type = "changes: Record<string, string | null>")]
    pub fn update_metadata(
        &self,
        env: Env,
        changes: HashMap<String, Option<String>>,
    ) -> napi::Result<()> {
        let r = self.res.resource().or_throw(&env)?;
        r.update_metadata(changes.into_iter().collect())
            .or_throw(&env)
    }

    /// Why the file opened with less than it seemed to hold.
    #[napi]
    pub fn recovery(&self, env: Env) -> napi::Result<Recovery> {
        Ok(self.res.resource().or_throw(&env)?.recovery().into())
    }

    /// The backing file, or null in memory.
    #[napi]
    pub fn path(&self, env: Env) -> napi::Result<Option<String>> {
        let r = self.res.resource().or_throw(&env)?;
        Ok(r.path().map(|p| p.to_string_lossy().into_owned()))
    }

    /// Makes written bytes durable (and records persisted ranges).
    #[napi]
    pub fn flush(&self, env: Env) -> napi::Result<()> {
        self.res.resource().or_throw(&env)?.flush().or_throw(&env)
    }

    /// `flush` on the core's checkpoint thread: the promise settles from
    /// there (through a threadsafe function), with no thread parked for it.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn sync<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let r = self.res.resource().or_throw(env)?;
        let (deferred, promise) = env.create_deferred::<(), SyncSettle>()?;
        r.sync_with(Box::new(move |result| {
            let error = result.err().map(ErrorDetails::from);
            deferred.resolve(Box::new(move |env| match error {
                None => Ok(()),
                Some(details) => Err(error_value(&env, &details)?),
            }));
        }));
        Ok(promise)
    }

    /// Releases the mapping and the file (or buffer) now.
    #[napi]
    pub fn close(&self) {
        self.res.close();
    }

    /// Whether `close` was called.
    #[napi]
    pub fn is_closed(&self) -> bool {
        self.res.is_closed()
    }

    /// Whether this resource follows a writer in another process (read-only).
    #[napi]
    pub fn is_follower(&self, env: Env) -> napi::Result<bool> {
        Ok(self.res.resource().or_throw(&env)?.is_follower())
    }

    /// The same underlying resource behind an `Atomic` decorator.
    #[napi]
    pub fn atomic(&self, env: Env) -> napi::Result<NodeResource> {
        Ok(Self::new(self.res.atomic().or_throw(&env)?))
    }

    /// A process-wide id for `resourceFromShared` in any worker thread. The
    /// registry holds it weakly: it lives as long as some JS object does.
    #[napi]
    pub fn share(&self, env: Env) -> napi::Result<f64> {
        self.res.resource().or_throw(&env)?;
        Ok(to_f64(self.res.share()))
    }

    /// This object's observer, on this thread: `('write', start, end)`
    /// after each write, `('commit', finalLen, 0)`, `('fail', 0, 0, reason)`
    /// and `('close', 0, 0)`. Null stops it. Each object has its own
    /// observer; the resource tells every one of them (any object, any thread).
    #[napi]
    #[allow(clippy::type_complexity)] // spelled out: napi-rs types the callback from it
    pub fn set_observer(
        &self,
        env: Env,
        observer: Option<Function<'_, FnArgs<(ProgressEvent, f64, f64, Option<String>)>, ()>>,
    ) -> napi::Result<()> {
        let r = self.res.resource().or_throw(&env)?;
        let next = match observer {
            None => None,
            Some(f) => {
                let tsfn: ObserverFn = f
                    .build_threadsafe_function::<ObserverArgs>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
                let observer: Arc<dyn AvailabilityObserver> = Arc::new(JsObserver(tsfn));
                Some(observer)
            }
        };
        self.drop_observer();
        if let Some(observer) = next {
            self.observer.set(Some(r.add_observer(observer)));
        }
        Ok(())
    }
}

/// Opens a file-backed resource (no `initialLen`: the default size).
#[napi]
pub fn open_mmap(
    env: Env,
    token: &NodeToken,
    path: String,
    initial_len: Option<f64>,
    mode: OpenMode,
    persist_ranges: bool,
    flavor: Flavor,
) -> napi::Result<NodeResource> {
    let mut opts = MmapOptions::new(PathBuf::from(path));
    opts.initial_len = initial_len.map(to_u64);
    opts.mode = mode.into();
    opts.persist_ranges = persist_ranges;
    let res = AnyResource::open_mmap(token.token(), opts, flavor.into()).or_throw(&env)?;
    Ok(NodeResource::new(res))
}

/// Opens an in-memory resource, committed with `initialData` when given.
#[napi]
pub fn open_mem(
    env: Env,
    token: &NodeToken,
    initial_data: Option<&[u8]>,
    capacity: f64,
    flavor: Flavor,
) -> napi::Result<NodeResource> {
    let mut opts = MemOptions::default();
    opts.initial_data = initial_data.map(<[u8]>::to_vec);
    opts.capacity = usize::try_from(to_u64(capacity)).unwrap_or(usize::MAX);
    let res = AnyResource::open_mem(token.token(), opts, flavor.into()).or_throw(&env)?;
    Ok(NodeResource::new(res))
}

/// The resource shared under `id`, while a JS object somewhere still holds it.
#[napi]
pub fn resource_from_shared(env: Env, id: f64) -> napi::Result<NodeResource> {
    let res = RESOURCES.lookup(to_u64(id)).or_throw(&env)?;
    Ok(NodeResource::new(res))
}

/// How many resources and tokens the share registry holds (for leak tests).
#[napi]
pub fn shared_registry_size() -> f64 {
    (RESOURCES.len() + TOKENS.len()) as f64
}
