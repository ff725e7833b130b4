//! `Resource`: the core's [`AnyResource`] (any driver, any decorator) as a
//! JavaScript class. Each member converts its arguments, calls the core and
//! converts the result; the rules (including "closed means closed") are the
//! core's.

use std::{ops::Range, path::PathBuf, sync::Arc};

use kithara_storage::{
    binding::{flat_ranges, to_f64, to_u64, AnyResource, SharedResource, RESOURCES, TOKENS},
    AvailabilityObserver, MemOptions, MmapOptions,
};
use napi::{
    bindgen_prelude::{Buffer, Either, FnArgs, Function},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Env,
};
use napi_derive::napi;

use crate::{
    error::OrThrow,
    names::{Flavor, OpenMode, ProgressEvent, ResourceKind, StatusKind, WaitOutcome},
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

/// Progress events, delivered on the thread that called `setObserver`.
type ObserverFn = ThreadsafeFunction<
    (ProgressEvent, f64, f64),
    (),
    FnArgs<(ProgressEvent, f64, f64)>,
    napi::Status,
    false,
    true,
>;

/// Forwards the core's availability events to a JavaScript function.
struct JsObserver(ObserverFn);

impl AvailabilityObserver for JsObserver {
    fn on_write(&self, range: Range<u64>) {
        // Non-blocking: the writer never waits for JavaScript.
        let _ = self.0.call(
            (ProgressEvent::Write, to_f64(range.start), to_f64(range.end)),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }

    fn on_commit(&self, final_len: u64) {
        let _ = self.0.call(
            (ProgressEvent::Commit, to_f64(final_len), 0.0),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

/// The caller's `Uint8Array`, borrowed mutably for the call (any byte
/// offset, any backing store). Spelled as an alias so the generated glue
/// converts it with `napi_get_typedarray_info` rather than as a class reference.
type BytesMut<'a> = &'a mut [u8];

/// A storage resource (file or memory, possibly behind `Atomic` or
/// `AtomicChunked`).
#[napi(js_name = "Resource")]
pub struct NodeResource {
    res: SharedResource,
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
    /// `timeoutMs` (none: no limit).
    #[napi]
    pub fn wait_range_sync(
        &self,
        env: Env,
        start: f64,
        end: f64,
        timeout_ms: Option<f64>,
    ) -> napi::Result<WaitOutcome> {
        let outcome = self
            .res
            .wait_sync(range(start, end), timeout_ms)
            .or_throw(&env)?;
        Ok(outcome.into())
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

    /// The final length once committed, else null.
    #[napi]
    #[allow(clippy::len_without_is_empty)] // the facade derives isEmpty
    pub fn len(&self, env: Env) -> napi::Result<Option<f64>> {
        Ok(self.res.resource().or_throw(&env)?.len().map(to_f64))
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
        let res = self.res.atomic().or_throw(&env)?;
        Ok(Self { res })
    }

    /// A process-wide id for `resourceFromShared` in any worker thread. The
    /// registry holds it weakly: it lives as long as some JS object does.
    #[napi]
    pub fn share(&self, env: Env) -> napi::Result<f64> {
        self.res.resource().or_throw(&env)?;
        Ok(to_f64(self.res.share()))
    }

    /// Progress events on this thread: `('write', start, end)` after each
    /// write and `('commit', finalLen, 0)`. Null stops them. One observer per
    /// resource: the last call, from any thread, wins.
    #[napi]
    #[allow(clippy::type_complexity)] // spelled out: napi-rs types the callback from it
    pub fn set_observer(
        &self,
        env: Env,
        observer: Option<Function<'_, FnArgs<(ProgressEvent, f64, f64)>, ()>>,
    ) -> napi::Result<()> {
        let r = self.res.resource().or_throw(&env)?;
        let observer: Option<Arc<dyn AvailabilityObserver>> = match observer {
            None => None,
            Some(f) => {
                let tsfn: ObserverFn = f
                    .build_threadsafe_function::<(ProgressEvent, f64, f64)>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
                Some(Arc::new(JsObserver(tsfn)))
            }
        };
        r.set_observer(observer);
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
    Ok(NodeResource { res })
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
    Ok(NodeResource { res })
}

/// The resource shared under `id`, while a JS object somewhere still holds it.
#[napi]
pub fn resource_from_shared(env: Env, id: f64) -> napi::Result<NodeResource> {
    let res = RESOURCES.lookup(to_u64(id)).or_throw(&env)?;
    Ok(NodeResource { res })
}

/// How many resources and tokens the share registry holds (for leak tests).
#[napi]
pub fn shared_registry_size() -> f64 {
    (RESOURCES.len() + TOKENS.len()) as f64
}
