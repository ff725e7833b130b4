//! `NativeResource`: every flavour of core resource behind one JS class, so
//! plain, `Atomic` and `AtomicChunked` resources have the same members.

use std::{
    ops::Range,
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use kithara_storage::{
    Atomic, AtomicChunked, AvailabilityObserver, MemOptions, MmapOptions, OpenMode, Resource,
    ResourceExt, ResourceStatus, StorageError, StorageResource, WaitOptions,
};
use napi::{
    bindgen_prelude::{Buffer, Either, FnArgs, Function},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Env, Status,
};
use napi_derive::napi;

use crate::{
    error::{throw, throw_coded, OrThrow},
    registry::Registry,
    token::NativeToken,
    wait::{self, outcome_str, Registered},
};

/// Which core type a resource is.
enum Flavor {
    /// `StorageResource` as opened.
    Plain(StorageResource),
    /// Write-temp-rename whole-file writes.
    Atomic(Atomic<StorageResource>),
    /// Chunked writes at `<path>.tmp`, renamed on commit.
    Chunked(AtomicChunked),
}

/// A core resource and its registry id, shared by every JS object (in any
/// thread) that wraps it.
pub struct ResourceCell {
    flavor: Flavor,
    shared_id: OnceLock<i64>,
}

impl Drop for ResourceCell {
    fn drop(&mut self) {
        RESOURCES.remove(&self.shared_id);
    }
}

/// Resources that were shared with `share()`, by id.
static RESOURCES: Registry<ResourceCell> = Registry::new();

impl ResourceCell {
    fn new(flavor: Flavor) -> Arc<Self> {
        Arc::new(Self {
            flavor,
            shared_id: OnceLock::new(),
        })
    }

    fn ext(&self) -> &dyn ResourceExt {
        match &self.flavor {
            Flavor::Plain(r) => r,
            Flavor::Atomic(r) => r,
            Flavor::Chunked(r) => r,
        }
    }

    /// The plain resource underneath (for `AtomicChunked`: the current one).
    fn with_base<T>(&self, f: impl FnOnce(&StorageResource) -> T) -> T {
        match &self.flavor {
            Flavor::Plain(r) => f(r),
            Flavor::Atomic(r) => f(r.inner()),
            Flavor::Chunked(r) => f(&StorageResource::Mmap((*r.current()).clone())),
        }
    }
}

/// A resource's lifecycle state (`finalLen` is set once committed, `reason` once failed).
#[napi(object)]
pub struct NativeStatus {
    /// `active`, `committed`, `failed` or `cancelled`.
    pub kind: String,
    /// Length of a committed resource.
    pub final_len: Option<i64>,
    /// Why a failed resource failed.
    pub reason: Option<String>,
}

/// Progress events, delivered on the thread that called `setObserver`.
type ObserverFn = ThreadsafeFunction<
    (&'static str, i64, i64),
    (),
    FnArgs<(&'static str, i64, i64)>,
    Status,
    false,
    true,
>;

/// The JavaScript observer as passed in.
type ObserverJsFn<'f> = Function<'f, FnArgs<(&'static str, i64, i64)>, ()>;

/// Forwards the core's availability events to a JavaScript function.
struct JsObserver(ObserverFn);

impl AvailabilityObserver for JsObserver {
    fn on_write(&self, range: Range<u64>) {
        // Non-blocking: the writer never waits for JavaScript.
        let _ = self.0.call(
            ("write", to_js(range.start), to_js(range.end)),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }

    fn on_commit(&self, final_len: u64) {
        let _ = self.0.call(
            ("commit", to_js(final_len), 0),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    }
}

/// Offsets and lengths reach JavaScript as numbers (they fit: files and
/// buffers are far below 2^53 bytes).
fn to_js(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A JavaScript offset (validated by the facade; checked again here so a
/// direct caller gets a coded error, not a wrapped-around offset).
fn offset(env: &Env, n: i64) -> napi::Result<u64> {
    u64::try_from(n)
        .map_err(|_| throw_coded(env, "ERR_OUT_OF_RANGE", &format!("offset {n} is negative")))
}

fn range(env: &Env, start: i64, end: i64) -> napi::Result<Range<u64>> {
    Ok(offset(env, start)?..offset(env, end)?)
}

/// The caller's `Uint8Array`, borrowed mutably for the call (any byte
/// offset, any backing store). Spelled as an alias so the generated glue
/// converts it with `napi_get_typedarray_info` rather than as a class reference.
type BytesMut<'a> = &'a mut [u8];

/// A storage resource (file or memory, possibly behind `Atomic` or
/// `AtomicChunked`).
#[napi]
pub struct NativeResource {
    cell: Arc<ResourceCell>,
}

impl NativeResource {
    fn wrap(flavor: Flavor) -> Self {
        Self {
            cell: ResourceCell::new(flavor),
        }
    }
}

#[napi]
impl NativeResource {
    /// `mmap` or `mem`: which driver is underneath.
    #[napi(getter, ts_return_type = "'mmap' | 'mem'")]
    pub fn kind(&self) -> &'static str {
        self.cell.with_base(|r| match r {
            StorageResource::Mmap(_) => "mmap",
            StorageResource::Mem(_) => "mem",
        })
    }

    /// Writes `data` at `offset` (read straight from the caller's bytes).
    #[napi]
    pub fn write_at(&self, env: Env, offset: i64, data: &[u8]) -> napi::Result<()> {
        let at = self::offset(&env, offset)?;
        self.cell.ext().write_at(at, data).or_throw(&env)
    }

    /// Copies bytes at `offset` straight into `buf`; returns how many.
    #[napi(ts_args_type = "offset: number, buf: Uint8Array")]
    pub fn read_at(&self, env: Env, offset: i64, buf: BytesMut<'_>) -> napi::Result<i64> {
        let at = self::offset(&env, offset)?;
        let n = self.cell.ext().read_at(at, buf).or_throw(&env)?;
        Ok(to_js(n as u64))
    }

    /// Writes `data` at 0 and commits with its length (atomically for `Atomic`).
    #[napi]
    pub fn write_all(&self, env: Env, data: &[u8]) -> napi::Result<()> {
        self.cell.ext().write_all(data).or_throw(&env)
    }

    /// `writeAll` with the bytes on disk before the rename (`Atomic` only;
    /// `AtomicChunked` always fsyncs on commit).
    #[napi]
    pub fn write_all_durable(&self, env: Env, data: &[u8]) -> napi::Result<()> {
        match &self.cell.flavor {
            Flavor::Atomic(r) => r.write_all_durable(data).or_throw(&env),
            Flavor::Chunked(r) => r.write_all(data).or_throw(&env),
            Flavor::Plain(_) => Err(throw(
                &env,
                &StorageError::Unsupported(
                    "writeAllDurable needs a resource opened with atomic: true",
                ),
            )),
        }
    }

    /// The whole committed contents, in a new buffer.
    #[napi]
    pub fn read_all(&self, env: Env) -> napi::Result<Buffer> {
        let mut all = Vec::new();
        self.cell.ext().read_into(&mut all).or_throw(&env)?;
        Ok(Buffer::from(all))
    }

    /// The outcome if decided now, else the id the dispatcher will be called with.
    #[napi(ts_return_type = "'ready' | 'eof' | 'interrupted' | number")]
    pub fn wait_range(
        &self,
        env: Env,
        start: i64,
        end: i64,
    ) -> napi::Result<Either<&'static str, i64>> {
        let range = range(&env, start, end)?;
        let ext = self.cell.ext();
        Ok(
            match wait::register(&env, |cb| ext.register_waiter(range, cb))? {
                Registered::Decided(outcome) => Either::A(outcome),
                Registered::Pending(id) => Either::B(id),
            },
        )
    }

    /// Withdraws pending wait `id`; whether it was still pending.
    #[napi]
    pub fn cancel_wait(&self, env: Env, id: i64) -> bool {
        wait::cancel(&env, id)
    }

    /// Blocks this thread until the range is decided; `timeoutMs` < 0 means no timeout.
    #[napi(ts_return_type = "'ready' | 'eof' | 'interrupted'")]
    pub fn wait_range_sync(
        &self,
        env: Env,
        start: i64,
        end: i64,
        timeout_ms: f64,
    ) -> napi::Result<&'static str> {
        let range = range(&env, start, end)?;
        let mut opts = WaitOptions::new();
        if timeout_ms >= 0.0 {
            opts.timeout = Some(Duration::from_secs_f64(timeout_ms.min(1e15) / 1000.0));
        }
        let outcome = self
            .cell
            .ext()
            .wait_range_with(range, &opts)
            .or_throw(&env)?;
        Ok(outcome_str(outcome))
    }

    /// Whether every byte of `start..end` is written. Never blocks.
    #[napi]
    pub fn contains_range(&self, env: Env, start: i64, end: i64) -> napi::Result<bool> {
        Ok(self.cell.ext().contains_range(range(&env, start, end)?))
    }

    /// The first missing range in `from..limit` as `[start, end]`, or null.
    #[napi(ts_return_type = "[number, number] | null")]
    pub fn next_gap(&self, env: Env, from: i64, limit: i64) -> napi::Result<Option<Vec<i64>>> {
        let r = range(&env, from, limit)?;
        Ok(self
            .cell
            .ext()
            .next_gap(r.start, r.end)
            .map(|g| vec![to_js(g.start), to_js(g.end)]))
    }

    /// Finishes writing; `finalLen` < 0 means the end of the highest written byte.
    #[napi]
    pub fn commit(&self, env: Env, final_len: i64) -> napi::Result<()> {
        let len = u64::try_from(final_len).ok();
        self.cell.ext().commit(len).or_throw(&env)
    }

    /// Marks the resource failed with `reason`.
    #[napi]
    pub fn fail(&self, reason: String) {
        self.cell.ext().fail(reason);
    }

    /// Committed or failed back to active, keeping the data.
    #[napi]
    pub fn reactivate(&self, env: Env) -> napi::Result<()> {
        self.cell.ext().reactivate().or_throw(&env)
    }

    /// Wakes the current waiters with `interrupted`.
    #[napi]
    pub fn interrupt(&self) {
        self.cell.ext().interrupt();
    }

    /// The lifecycle state.
    #[napi]
    pub fn status(&self) -> NativeStatus {
        let (kind, final_len, reason) = match self.cell.ext().status() {
            ResourceStatus::Active => ("active", None, None),
            ResourceStatus::Committed { final_len } => {
                ("committed", Some(to_js(final_len.unwrap_or(0))), None)
            }
            ResourceStatus::Failed(reason) => ("failed", None, Some(reason)),
            ResourceStatus::Cancelled => ("cancelled", None, None),
        };
        NativeStatus {
            kind: kind.to_owned(),
            final_len,
            reason,
        }
    }

    /// The final length once committed, else null.
    #[napi]
    #[allow(clippy::len_without_is_empty)] // the contract has no isEmpty; the facade derives it
    pub fn len(&self) -> Option<i64> {
        self.cell.ext().len().map(to_js)
    }

    /// The backing file, or null in memory.
    #[napi]
    pub fn path(&self) -> Option<String> {
        self.cell
            .ext()
            .path()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// Makes written bytes durable (and records persisted ranges).
    #[napi]
    pub fn flush(&self, env: Env) -> napi::Result<()> {
        self.cell
            .with_base(|r| match r {
                StorageResource::Mmap(r) => r.flush(),
                StorageResource::Mem(r) => r.flush(),
            })
            .or_throw(&env)
    }

    /// Releases the mapping and the file (or buffer) now.
    #[napi]
    pub fn close(&self) {
        self.cell.ext().close();
    }

    /// Whether `close` was called.
    #[napi]
    pub fn is_closed(&self) -> bool {
        self.cell.ext().is_closed()
    }

    /// The same underlying resource behind an `Atomic` decorator.
    #[napi]
    pub fn atomic(&self) -> NativeResource {
        match &self.cell.flavor {
            Flavor::Plain(r) => Self::wrap(Flavor::Atomic(Atomic::new(r.clone()))),
            // Already atomic: the same resource.
            Flavor::Atomic(_) | Flavor::Chunked(_) => Self {
                cell: Arc::clone(&self.cell),
            },
        }
    }

    /// A process-wide id for `resourceFromShared` in any worker thread. The
    /// registry holds it weakly: it lives as long as some JS object does.
    #[napi]
    pub fn share(&self) -> i64 {
        RESOURCES.share(&self.cell.shared_id, Arc::downgrade(&self.cell))
    }

    /// Progress events on this thread: `('write', start, end)` after each
    /// write and `('commit', finalLen, 0)`. Null stops them. One observer per
    /// resource: the last call, from any thread, wins.
    #[napi(
        ts_args_type = "observer: ((event: 'write' | 'commit', a: number, b: number) => void) | null"
    )]
    pub fn set_observer(&self, observer: Option<ObserverJsFn<'_>>) -> napi::Result<()> {
        let observer: Option<Arc<dyn AvailabilityObserver>> = match observer {
            None => None,
            Some(f) => {
                let tsfn: ObserverFn = f
                    .build_threadsafe_function::<(&'static str, i64, i64)>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
                Some(Arc::new(JsObserver(tsfn)))
            }
        };
        self.cell.with_base(|r| match r {
            StorageResource::Mmap(r) => r.set_observer(observer),
            StorageResource::Mem(r) => r.set_observer(observer),
        });
        Ok(())
    }
}

fn open_mode(mode: &str) -> OpenMode {
    match mode {
        "readWrite" => OpenMode::ReadWrite,
        "readOnly" => OpenMode::ReadOnly,
        _ => OpenMode::Auto,
    }
}

/// Opens a file-backed resource. `initialLen` < 0 means the default size.
#[napi(
    ts_args_type = "token: NativeToken, path: string, initialLen: number, mode: 'auto' | 'readWrite' | 'readOnly', persistRanges: boolean, flavor: 'plain' | 'atomic' | 'chunked'"
)]
pub fn open_mmap(
    env: Env,
    token: &NativeToken,
    path: String,
    initial_len: i64,
    mode: String,
    persist_ranges: bool,
    flavor: String,
) -> napi::Result<NativeResource> {
    let mut opts = MmapOptions::new(PathBuf::from(path));
    opts.initial_len = u64::try_from(initial_len).ok();
    opts.mode = open_mode(&mode);
    opts.persist_ranges = persist_ranges;
    let cancel = token.token();
    let flavor = match flavor.as_str() {
        "chunked" => Flavor::Chunked(AtomicChunked::mmap(cancel, opts).or_throw(&env)?),
        other => {
            let r = StorageResource::Mmap(Resource::open(cancel, opts).or_throw(&env)?);
            if other == "atomic" {
                Flavor::Atomic(Atomic::new(r))
            } else {
                Flavor::Plain(r)
            }
        }
    };
    Ok(NativeResource::wrap(flavor))
}

/// Opens an in-memory resource, committed with `initialData` when given.
#[napi(
    ts_args_type = "token: NativeToken, initialData: Uint8Array | null, capacity: number, flavor: 'plain' | 'atomic'"
)]
pub fn open_mem(
    env: Env,
    token: &NativeToken,
    initial_data: Option<&[u8]>,
    capacity: i64,
    flavor: String,
) -> napi::Result<NativeResource> {
    let mut opts = MemOptions::default();
    opts.initial_data = initial_data.map(<[u8]>::to_vec);
    opts.capacity = usize::try_from(capacity).unwrap_or(0);
    let r = StorageResource::Mem(Resource::open(token.token(), opts).or_throw(&env)?);
    Ok(NativeResource::wrap(if flavor == "atomic" {
        Flavor::Atomic(Atomic::new(r))
    } else {
        Flavor::Plain(r)
    }))
}

/// The resource shared under `id`, while a JS object somewhere still holds it.
#[napi]
pub fn resource_from_shared(env: Env, id: i64) -> napi::Result<NativeResource> {
    match RESOURCES.get(id) {
        Some(cell) => Ok(NativeResource { cell }),
        None => Err(throw_coded(
            &env,
            "ERR_STORAGE_CLOSED",
            &format!("shared resource {id} is gone: every object holding it was dropped"),
        )),
    }
}

/// How many resources and tokens the share registry holds (for leak tests).
#[napi]
pub fn shared_registry_size() -> i64 {
    (RESOURCES.len() + crate::token::TOKENS.len()) as i64
}
