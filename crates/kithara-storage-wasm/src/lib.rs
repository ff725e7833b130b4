//! WebAssembly binding of `kithara-storage`: memory resources, tokens, range
//! waits and coverage, for browsers and as the Node fallback backend.
//!
//! The binding is flat: every object lives in a per-instance table and
//! JavaScript holds only its numeric handle (see `src/backend-wasm-core.ts`,
//! which implements the `NativeBackend` contract of `src/native.ts` on top of
//! these functions). Closing a resource removes it from the table, so its
//! memory is returned at once instead of when the JavaScript wrapper happens
//! to be garbage-collected.
//!
//! Waits never block: a pending wait registers a callback with the core that
//! queues its result and asks JavaScript (through the `schedule` hook) to call
//! [`drain`] soon, which hands each result to the dispatcher. Nothing polls.
//!
//! wasm32-unknown-unknown without threads is single-threaded, so the tables
//! are thread-locals; the core's callbacks must be `Send`, which they are
//! because they carry only a handle and reach the queue through a thread-local.

use std::{cell::RefCell, collections::HashMap};

use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use kithara_storage::{
    Atomic, AvailabilityObserver, CancellationToken, Coverage, MemCoverage, MemOptions,
    MemResource, Resource, ResourceExt, ResourceStatus, StorageError, WaitHandle, WaitOutcome,
    WaitRegistration, WaitResult,
};
use wasm_bindgen::prelude::*;

mod errors;

use errors::{to_js_error, unsupported};

/// A memory resource, plain or behind the `Atomic` decorator.
#[derive(Clone)]
enum Res {
    Plain(MemResource),
    Atomic(Atomic<MemResource>),
}

impl Res {
    fn ext(&self) -> &dyn ResourceExt {
        match self {
            Self::Plain(r) => r,
            Self::Atomic(r) => r,
        }
    }

    fn core(&self) -> &MemResource {
        match self {
            Self::Plain(r) => r,
            Self::Atomic(r) => r.inner(),
        }
    }
}

/// Something that happened and must reach JavaScript in the next [`drain`].
enum Event {
    /// A pending wait was decided.
    Wait(u32, WaitResult),
    /// `[start, end)` was written to the resource whose observer is `u32`.
    Write(u32, u64, u64),
    /// The resource whose observer is `u32` was committed at this length.
    Commit(u32, u64),
}

#[derive(Default)]
struct Tables {
    next_handle: u32,
    resources: HashMap<u32, Res>,
    tokens: HashMap<u32, CancellationToken>,
    coverages: HashMap<u32, MemCoverage>,
    /// Waits not yet handed to the dispatcher, by id. Removed by `drain` or `cancel_wait`.
    waits: HashMap<u32, WaitHandle>,
    next_wait: u32,
}

impl Tables {
    fn handle(&mut self) -> u32 {
        // Ids stay positive and distinct for the life of the instance in any realistic use.
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        self.next_handle
    }
}

#[derive(Default)]
struct Queue {
    events: Vec<Event>,
    /// A drain has been requested and not run yet.
    scheduled: bool,
    /// Asks JavaScript to call `drain` soon (a microtask).
    schedule: Option<Function>,
}

thread_local! {
    static TABLES: RefCell<Tables> = RefCell::default();
    static QUEUE: RefCell<Queue> = RefCell::default();
}

/// Queues an event and requests a drain if none is pending. Never re-enters
/// the tables, so it is safe from inside any core call.
fn push_event(event: Event) {
    let schedule = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        // Coalesce contiguous writes to the same observer, as the contract allows.
        if let (Event::Write(key, start, end), Some(Event::Write(last_key, _, last_end))) =
            (&event, q.events.last_mut())
        {
            if key == last_key && start == last_end {
                *last_end = *end;
                return None;
            }
        }
        q.events.push(event);
        if q.scheduled {
            return None;
        }
        q.scheduled = true;
        q.schedule.clone()
    });
    if let Some(f) = schedule {
        // The hook only queues a microtask; it cannot fail in a way we could act on.
        let _ = f.call0(&JsValue::NULL);
    }
}

fn with_tables<T>(f: impl FnOnce(&mut Tables) -> T) -> T {
    TABLES.with(|t| f(&mut t.borrow_mut()))
}

/// A clone of the resource behind `handle`, or `Closed` once it is closed.
fn res(handle: u32) -> Result<Res, JsValue> {
    with_tables(|t| t.resources.get(&handle).cloned())
        .ok_or_else(|| to_js_error(&StorageError::Closed))
}

fn token(handle: u32) -> Result<CancellationToken, JsValue> {
    with_tables(|t| t.tokens.get(&handle).cloned()).ok_or_else(|| {
        errors::coded(
            "ERR_STORAGE_CLOSED",
            &format!("no token with id {handle} in this WebAssembly instance"),
        )
    })
}

/// Runs `f` on the coverage behind `handle` (a released handle reads as empty;
/// JavaScript cannot reach one, as handles are released only by finalizers).
fn with_coverage<T>(handle: u32, f: impl FnOnce(&mut MemCoverage) -> T) -> T {
    with_tables(|t| match t.coverages.get_mut(&handle) {
        Some(c) => f(c),
        None => f(&mut MemCoverage::new()),
    })
}

fn js(result: kithara_storage::StorageResult<()>) -> Result<(), JsValue> {
    result.map_err(|e| to_js_error(&e))
}

fn outcome_str(outcome: WaitOutcome) -> &'static str {
    match outcome {
        WaitOutcome::Ready => "ready",
        WaitOutcome::Eof => "eof",
        WaitOutcome::Interrupted => "interrupted",
    }
}

/// Installs the hook that asks JavaScript to call [`drain`] soon. Queued
/// events are kept until then.
#[wasm_bindgen]
pub fn set_schedule_hook(schedule: Function) {
    let pending = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        q.schedule = Some(schedule.clone());
        !q.events.is_empty() && !q.scheduled
    });
    if pending {
        QUEUE.with(|q| q.borrow_mut().scheduled = true);
        let _ = schedule.call0(&JsValue::NULL);
    }
}

/// Hands every queued event to JavaScript: `on_wait(id, error, outcome)` for
/// decided waits (skipping withdrawn ones) and `on_event(observer, kind, a, b)`
/// for observer events. If a callback throws, the rest are still delivered
/// and the first exception is rethrown at the end.
#[wasm_bindgen]
pub fn drain(on_wait: &Function, on_event: &Function) -> Result<(), JsValue> {
    let events = QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        q.scheduled = false;
        std::mem::take(&mut q.events)
    });
    let mut first_error = None;
    for event in events {
        let delivered = match event {
            Event::Wait(id, result) => {
                // Withdrawn by cancel_wait after it was decided: never dispatched.
                if with_tables(|t| t.waits.remove(&id)).is_none() {
                    continue;
                }
                let (error, outcome) = match result {
                    Ok(o) => (JsValue::NULL, JsValue::from_str(outcome_str(o))),
                    Err(e) => (to_js_error(&e), JsValue::NULL),
                };
                on_wait.call3(&JsValue::NULL, &JsValue::from(id), &error, &outcome)
            }
            Event::Write(key, start, end) => on_event.call4(
                &JsValue::NULL,
                &JsValue::from(key),
                &JsValue::from_str("write"),
                &JsValue::from(start as f64),
                &JsValue::from(end as f64),
            ),
            Event::Commit(key, len) => on_event.call4(
                &JsValue::NULL,
                &JsValue::from(key),
                &JsValue::from_str("commit"),
                &JsValue::from(len as f64),
                &JsValue::from(0),
            ),
        };
        if let Err(e) = delivered {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

// ---------------------------------------------------------------- tokens

/// A new cancellation token; returns its handle.
#[wasm_bindgen]
pub fn token_new() -> u32 {
    with_tables(|t| {
        let h = t.handle();
        t.tokens.insert(h, CancellationToken::new());
        h
    })
}

/// Cancels the token (and its children), waking the waits it decides.
#[wasm_bindgen]
pub fn token_cancel(handle: u32) -> Result<(), JsValue> {
    token(handle)?.cancel();
    Ok(())
}

/// Whether the token is cancelled.
#[wasm_bindgen]
pub fn token_is_cancelled(handle: u32) -> Result<bool, JsValue> {
    Ok(token(handle)?.is_cancelled())
}

/// A child token (cancelled with its parent); returns its handle.
#[wasm_bindgen]
pub fn token_child(handle: u32) -> Result<u32, JsValue> {
    let child = token(handle)?.child_token();
    Ok(with_tables(|t| {
        let h = t.handle();
        t.tokens.insert(h, child);
        h
    }))
}

/// Another handle on the same token (for `tokenFromShared`).
#[wasm_bindgen]
pub fn token_clone(handle: u32) -> Result<u32, JsValue> {
    let same = token(handle)?;
    Ok(with_tables(|t| {
        let h = t.handle();
        t.tokens.insert(h, same);
        h
    }))
}

/// Releases the handle (the token lives on in its other holders).
#[wasm_bindgen]
pub fn token_free(handle: u32) {
    let token = with_tables(|t| t.tokens.remove(&handle));
    drop(token);
}

// ---------------------------------------------------------------- resources

/// Opens a memory resource on `token`; returns its handle. `initial_data`
/// opens it committed with those bytes; `atomic` wraps it in `Atomic`.
#[wasm_bindgen]
pub fn mem_open(
    token_handle: u32,
    initial_data: Option<Vec<u8>>,
    capacity: f64,
    atomic: bool,
) -> Result<u32, JsValue> {
    let cancel = token(token_handle)?;
    let mut opts = MemOptions::default();
    opts.initial_data = initial_data;
    opts.capacity = capacity as usize;
    let mem: MemResource = Resource::open(cancel, opts).map_err(|e| to_js_error(&e))?;
    let r = if atomic {
        Res::Atomic(Atomic::new(mem))
    } else {
        Res::Plain(mem)
    };
    Ok(insert_resource(r))
}

fn insert_resource(r: Res) -> u32 {
    with_tables(|t| {
        let h = t.handle();
        t.resources.insert(h, r);
        h
    })
}

/// Another handle on the same resource (for `resourceFromShared`), or
/// `Closed` if the shared handle is gone.
#[wasm_bindgen]
pub fn res_clone(handle: u32) -> Result<u32, JsValue> {
    Ok(insert_resource(res(handle)?))
}

/// A handle on the same resource behind the `Atomic` decorator.
#[wasm_bindgen]
pub fn res_atomic(handle: u32) -> Result<u32, JsValue> {
    let core = res(handle)?.core().clone();
    Ok(insert_resource(Res::Atomic(Atomic::new(core))))
}

/// Forgets the handle without closing the resource (its JavaScript wrapper was collected).
#[wasm_bindgen]
pub fn res_free(handle: u32) {
    let r = with_tables(|t| t.resources.remove(&handle));
    drop(r);
}

/// `write_at`.
#[wasm_bindgen]
pub fn res_write_at(handle: u32, offset: f64, data: &[u8]) -> Result<(), JsValue> {
    js(res(handle)?.ext().write_at(offset as u64, data))
}

/// Reads are staged through a buffer of at most this size, so a read into a
/// huge JavaScript buffer does not grow the module's memory for good.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Reused staging buffer, so a read costs no allocation once warm.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads at `offset` straight into `buf` (any Uint8Array); returns bytes read.
#[wasm_bindgen]
pub fn res_read_at(handle: u32, offset: f64, buf: &Uint8Array) -> Result<f64, JsValue> {
    let r = res(handle)?;
    let want = buf.length() as usize;
    let offset = offset as u64;
    SCRATCH.with(|s| {
        let mut scratch = s.borrow_mut();
        let mut done = 0usize;
        // One thread: nothing can write between the chunks, so they read one consistent state.
        while done < want {
            let chunk = (want - done).min(READ_CHUNK);
            if scratch.len() < chunk {
                scratch.resize(chunk, 0);
            }
            let n = r
                .ext()
                .read_at(offset + done as u64, &mut scratch[..chunk])
                .map_err(|e| to_js_error(&e))?;
            buf.subarray(done as u32, (done + n) as u32)
                .copy_from(&scratch[..n]);
            done += n;
            if n < chunk {
                break;
            }
        }
        Ok(done as f64)
    })
}

/// `write_all` (atomic resources: through the decorator).
#[wasm_bindgen]
pub fn res_write_all(handle: u32, data: &[u8]) -> Result<(), JsValue> {
    js(res(handle)?.ext().write_all(data))
}

/// `Atomic::write_all_durable`; durability is meaningless in memory, so it is
/// `write_all`. Fails with `Unsupported` on a resource not opened atomic.
#[wasm_bindgen]
pub fn res_write_all_durable(handle: u32, data: &[u8]) -> Result<(), JsValue> {
    match res(handle)? {
        Res::Atomic(a) => js(a.write_all_durable(data)),
        Res::Plain(_) => Err(unsupported(
            "writeAllDurable needs a resource opened with atomic: true",
        )),
    }
}

/// The whole committed contents.
#[wasm_bindgen]
pub fn res_read_all(handle: u32) -> Result<Vec<u8>, JsValue> {
    let mut out = Vec::new();
    res(handle)?
        .ext()
        .read_into(&mut out)
        .map_err(|e| to_js_error(&e))?;
    Ok(out)
}

/// Registers a wait. Returns the outcome string when decided at once,
/// otherwise a positive wait id whose result `drain` delivers later.
#[wasm_bindgen]
pub fn res_wait_range(handle: u32, start: f64, end: f64) -> Result<JsValue, JsValue> {
    let r = res(handle)?;
    let id = with_tables(|t| {
        t.next_wait = t.next_wait.wrapping_add(1).max(1);
        t.next_wait
    });
    let callback = Box::new(move |result: WaitResult| push_event(Event::Wait(id, result)));
    match r.ext().register_waiter(start as u64..end as u64, callback) {
        WaitRegistration::Decided(Ok(o)) => Ok(JsValue::from_str(outcome_str(o))),
        WaitRegistration::Decided(Err(e)) => Err(to_js_error(&e)),
        WaitRegistration::Pending(h) => {
            with_tables(|t| t.waits.insert(id, h));
            Ok(JsValue::from(id))
        }
    }
}

/// Withdraws a wait not yet dispatched; returns whether it was.
#[wasm_bindgen]
pub fn cancel_wait(id: u32) -> bool {
    match with_tables(|t| t.waits.remove(&id)) {
        Some(h) => {
            // If the core already decided it, its queued result is skipped by `drain`.
            h.cancel();
            true
        }
        None => false,
    }
}

/// Answers a synchronous wait only when the range is decided now; otherwise
/// withdraws it and fails with `Timeout`. Blocking is JavaScript's call
/// (`backend-wasm-core.ts`): on one thread nothing could decide the range
/// while it blocks.
#[wasm_bindgen]
pub fn res_wait_range_now(handle: u32, start: f64, end: f64) -> Result<String, JsValue> {
    let r = res(handle)?;
    match r
        .ext()
        .register_waiter(start as u64..end as u64, Box::new(|_| {}))
    {
        WaitRegistration::Decided(Ok(o)) => Ok(outcome_str(o).to_owned()),
        WaitRegistration::Decided(Err(e)) => Err(to_js_error(&e)),
        WaitRegistration::Pending(h) => {
            h.cancel();
            Err(to_js_error(&StorageError::Timeout))
        }
    }
}

/// `contains_range`.
#[wasm_bindgen]
pub fn res_contains_range(handle: u32, start: f64, end: f64) -> Result<bool, JsValue> {
    Ok(res(handle)?.ext().contains_range(start as u64..end as u64))
}

/// `next_gap` as `[start, end]`, or undefined.
#[wasm_bindgen]
pub fn res_next_gap(handle: u32, from: f64, limit: f64) -> Result<Option<Vec<f64>>, JsValue> {
    Ok(res(handle)?
        .ext()
        .next_gap(from as u64, limit as u64)
        .map(|g| vec![g.start as f64, g.end as f64]))
}

/// `commit`; `final_len < 0` means "the end of the highest written byte".
#[wasm_bindgen]
pub fn res_commit(handle: u32, final_len: f64) -> Result<(), JsValue> {
    let len = (final_len >= 0.0).then_some(final_len as u64);
    js(res(handle)?.ext().commit(len))
}

/// `fail`.
#[wasm_bindgen]
pub fn res_fail(handle: u32, reason: String) -> Result<(), JsValue> {
    res(handle)?.ext().fail(reason);
    Ok(())
}

/// `reactivate`.
#[wasm_bindgen]
pub fn res_reactivate(handle: u32) -> Result<(), JsValue> {
    js(res(handle)?.ext().reactivate())
}

/// `interrupt`.
#[wasm_bindgen]
pub fn res_interrupt(handle: u32) -> Result<(), JsValue> {
    res(handle)?.ext().interrupt();
    Ok(())
}

/// The status as `{ kind, finalLen? , reason? }`.
#[wasm_bindgen]
pub fn res_status(handle: u32) -> Result<Object, JsValue> {
    let status = res(handle)?.ext().status();
    let obj = Object::new();
    let (kind, extra): (&str, Option<(&str, JsValue)>) = match status {
        ResourceStatus::Active => ("active", None),
        ResourceStatus::Committed { final_len } => (
            "committed",
            Some(("finalLen", JsValue::from(final_len.unwrap_or(0) as f64))),
        ),
        ResourceStatus::Failed(reason) => ("failed", Some(("reason", JsValue::from(reason)))),
        ResourceStatus::Cancelled => ("cancelled", None),
    };
    Reflect::set(&obj, &"kind".into(), &kind.into())?;
    if let Some((k, v)) = extra {
        Reflect::set(&obj, &k.into(), &v)?;
    }
    Ok(obj)
}

/// The final length once committed.
#[wasm_bindgen]
pub fn res_len(handle: u32) -> Result<Option<f64>, JsValue> {
    Ok(res(handle)?.ext().len().map(|l| l as f64))
}

/// `Resource::flush` (a no-op in memory besides the closed check).
#[wasm_bindgen]
pub fn res_flush(handle: u32) -> Result<(), JsValue> {
    js(res(handle)?.core().flush())
}

/// Closes the resource (freeing its buffer and failing its waits with
/// `Closed`) and releases this handle.
#[wasm_bindgen]
pub fn res_close(handle: u32) {
    let r = with_tables(|t| t.resources.remove(&handle));
    if let Some(r) = r {
        r.core().set_observer(None);
        r.ext().close();
    }
}

/// Whether the resource is closed (a released handle counts as closed).
#[wasm_bindgen]
pub fn res_is_closed(handle: u32) -> bool {
    res(handle).map_or(true, |r| r.ext().is_closed())
}

/// Reports writes and the commit to JavaScript as events keyed by `handle`
/// (`drain`'s `on_event`); `enabled = false` stops them.
#[wasm_bindgen]
pub fn res_set_observer(handle: u32, enabled: bool) -> Result<(), JsValue> {
    let r = res(handle)?;
    let observer: Option<std::sync::Arc<dyn AvailabilityObserver>> = if enabled {
        Some(std::sync::Arc::new(QueueObserver { key: handle }))
    } else {
        None
    };
    r.core().set_observer(observer);
    Ok(())
}

/// Queues the core's availability events for the next `drain`.
struct QueueObserver {
    key: u32,
}

impl AvailabilityObserver for QueueObserver {
    fn on_write(&self, range: std::ops::Range<u64>) {
        push_event(Event::Write(self.key, range.start, range.end));
    }

    fn on_commit(&self, final_len: u64) {
        push_event(Event::Commit(self.key, final_len));
    }
}

// ---------------------------------------------------------------- coverage

/// A new, empty `MemCoverage`; returns its handle.
#[wasm_bindgen]
pub fn cov_new() -> u32 {
    with_tables(|t| {
        let h = t.handle();
        t.coverages.insert(h, MemCoverage::new());
        h
    })
}

/// Releases a coverage.
#[wasm_bindgen]
pub fn cov_free(handle: u32) {
    with_tables(|t| t.coverages.remove(&handle));
}

/// `mark(start..end)`.
#[wasm_bindgen]
pub fn cov_mark(handle: u32, start: f64, end: f64) {
    with_coverage(handle, |c| c.mark(start as u64..end as u64));
}

/// `set_total_size`.
#[wasm_bindgen]
pub fn cov_set_total_size(handle: u32, total: f64) {
    with_coverage(handle, |c| c.set_total_size(total as u64));
}

/// `total_size`.
#[wasm_bindgen]
pub fn cov_total_size(handle: u32) -> Option<f64> {
    with_coverage(handle, |c| c.total_size().map(|t| t as f64))
}

/// `next_gap` as `[start, end]`, or undefined.
#[wasm_bindgen]
pub fn cov_next_gap(handle: u32, from: f64) -> Option<Vec<f64>> {
    with_coverage(handle, |c| {
        c.next_gap(from as u64)
            .map(|g| vec![g.start as f64, g.end as f64])
    })
}

/// `is_complete`.
#[wasm_bindgen]
pub fn cov_is_complete(handle: u32) -> bool {
    with_coverage(handle, |c| c.is_complete())
}

/// The marked ranges as `[[start, end], ...]`.
#[wasm_bindgen]
pub fn cov_ranges(handle: u32) -> Array {
    with_coverage(handle, |c| {
        c.ranges()
            .into_iter()
            .map(|r| Array::of2(&JsValue::from(r.start as f64), &JsValue::from(r.end as f64)))
            .collect()
    })
}

/// The `Unsupported` error `openMmap` throws: there are no files here.
#[wasm_bindgen]
pub fn mmap_unsupported_error() -> JsValue {
    unsupported("MmapResource and AtomicChunked need files, which WebAssembly does not have")
}

/// The module's `WebAssembly.Memory` (to watch its size in tests and benchmarks).
#[wasm_bindgen]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}
