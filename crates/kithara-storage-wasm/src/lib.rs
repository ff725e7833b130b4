//! WebAssembly binding of `kithara-storage`: memory resources, tokens, range
//! waits and coverage, for browsers and as the Node fallback backend.
//!
//! Thin by design: `#[wasm_bindgen]` classes over the core's binding layer
//! (`kithara_storage::binding`), with camelCase JavaScript names, so that
//! wasm-bindgen generates the glue and its typings and the facade checks
//! them against its backend contract (`src/backend-contract.ts`).
//!
//! `close()` drops this handle's resource at once, so its memory returns to
//! the module then, not when the JavaScript wrapper is collected.
//!
//! Waits never block: a pending wait's callback, and an observer's events,
//! go to a queue, and the first event of a burst queues one microtask that
//! drains it into JavaScript (the wait dispatcher, the observers). Nothing
//! polls. wasm32-unknown-unknown without threads is single-threaded, so the
//! queue and tables are thread-locals.

use std::{cell::RefCell, collections::HashMap};

use js_sys::{Error, Function, Object, Reflect, Uint8Array};
use kithara_storage::{
    binding::{
        flat_ranges, to_f64, to_u64, AnyResource, ErrorDetails, PendingWaits, Registered,
        SharedResource, SharedToken, RESOURCES, TOKENS,
    },
    AvailabilityObserver, CancellationToken, Coverage, MemCoverage, MemOptions, ObserverId,
    ResourceExt, StorageError, WaitRegistration, WaitResult,
};
use wasm_bindgen::{prelude::*, JsCast};

mod names;

use names::{Flavor, OpenMode, ProgressEvent, Recovery, ResourceKind, StatusKind, WaitOutcome};

// The types of values built by hand below (wasm-bindgen declares a string
// enum only where a signature names it): `StatusKind` and `ProgressEvent`
// spell out the values of the enums of the same names in `names.rs`.
#[wasm_bindgen(typescript_custom_section)]
const HAND_BUILT_TS: &str = r#"
/** The lifecycle state. */
export type StatusKind = "active" | "committed" | "failed" | "cancelled" | "closed";

/** A resource's lifecycle state (`finalLen` once committed, `reason` once failed). */
export interface Status {
  kind: StatusKind
  finalLen?: number
  reason?: string
}

/** What an observer is told of. */
export type ProgressEvent = "write" | "commit" | "fail" | "close";
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &Function);
}

// ---------------------------------------------------------------- errors

/// The JavaScript `Error` for `details`, with the fields of Node's `fs` errors.
fn js_error(details: &ErrorDetails) -> JsValue {
    let err: JsValue = Error::new(&details.message).into();
    let set = |key: &str, value: JsValue| {
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&err, &JsValue::from_str(key), &value);
    };
    set("code", JsValue::from_str(details.code));
    if let Some(errno) = details.errno {
        set("errno", JsValue::from(errno));
    }
    if let Some(syscall) = details.syscall {
        set("syscall", JsValue::from_str(syscall));
    }
    if let Some(system_code) = details.system_code {
        set("systemCode", JsValue::from_str(system_code));
    }
    if let Some(path) = &details.path {
        set("path", JsValue::from_str(path));
    }
    if let Some(reason) = &details.reason {
        set("reason", JsValue::from_str(reason));
    }
    err
}

/// Converts a core result, turning its error into a coded JavaScript error.
trait OrThrow<T> {
    fn or_throw(self) -> Result<T, JsValue>;
}

impl<T, E: Into<ErrorDetails>> OrThrow<T> for Result<T, E> {
    fn or_throw(self) -> Result<T, JsValue> {
        self.map_err(|e| js_error(&e.into()))
    }
}

// ---------------------------------------------------------------- event queue

/// Something that must reach JavaScript in the next drain.
enum Event {
    /// A pending wait was decided.
    Wait(u64, WaitResult),
    /// An observer event for the observer registered under the `u32`
    /// (`a`, `b`, and the reason of a failure).
    Progress(u32, ProgressEvent, f64, f64, Option<String>),
}

#[derive(Default)]
struct Queue {
    events: Vec<Event>,
    /// A drain is queued and has not run yet.
    scheduled: bool,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::default();
    static PENDING: RefCell<PendingWaits> = RefCell::default();
    static DISPATCHER: RefCell<Option<Function>> = const { RefCell::new(None) };
    static OBSERVERS: RefCell<HashMap<u32, Function>> = RefCell::default();
    static NEXT_OBSERVER: RefCell<u32> = const { RefCell::new(0) };
    static DRAIN: Closure<dyn FnMut() -> Result<(), JsValue>> = Closure::new(drain);
}

/// Queues an event and, for the first of a burst, one microtask to drain
/// them. Never re-enters the tables, so it is safe inside any core call.
fn push_event(event: Event) {
    let first = QUEUE.with_borrow_mut(|q| {
        q.events.push(event);
        !std::mem::replace(&mut q.scheduled, true)
    });
    if first {
        DRAIN.with(|d| queue_microtask(d.as_ref().unchecked_ref()));
    }
}

/// Hands every queued event to JavaScript. If a callback throws, the rest
/// are still delivered and the first exception is rethrown at the end.
fn drain() -> Result<(), JsValue> {
    let events = QUEUE.with_borrow_mut(|q| {
        q.scheduled = false;
        std::mem::take(&mut q.events)
    });
    let mut first_error = None;
    for event in events {
        let delivered = match event {
            Event::Wait(id, result) => {
                // Withdrawn by cancelWait after it was decided: never dispatched.
                if !PENDING.with_borrow_mut(|p| p.settle(id)) {
                    continue;
                }
                let (error, outcome) = match result {
                    Ok(o) => (JsValue::NULL, JsValue::from(WaitOutcome::from(o))),
                    Err(e) => (js_error(&e.into()), JsValue::NULL),
                };
                DISPATCHER.with_borrow(|d| match d {
                    Some(f) => {
                        f.call3(&JsValue::NULL, &JsValue::from(to_f64(id)), &error, &outcome)
                    }
                    None => Ok(JsValue::UNDEFINED),
                })
            }
            Event::Progress(key, kind, a, b, reason) => {
                let observer = OBSERVERS.with_borrow_mut(|o| {
                    // The last event an observer gets.
                    if matches!(kind, ProgressEvent::Close) {
                        o.remove(&key)
                    } else {
                        o.get(&key).cloned()
                    }
                });
                match observer {
                    Some(f) => {
                        let reason = reason.map_or(JsValue::NULL, JsValue::from);
                        let args = [JsValue::from(kind), a.into(), b.into(), reason];
                        f.apply(&JsValue::NULL, &args.into_iter().collect())
                    }
                    None => Ok(JsValue::UNDEFINED),
                }
            }
        };
        if let Err(e) = delivered {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Installs the function that receives every pending wait of this module
/// once it is decided: `(id, error | null, outcome | null)`.
#[wasm_bindgen(js_name = setWaitDispatcher)]
pub fn set_wait_dispatcher(
    #[wasm_bindgen(
        unchecked_param_type = "(id: number, error: Error | null, outcome: WaitOutcome | null) => void"
    )]
    dispatcher: Function,
) {
    DISPATCHER.with_borrow_mut(|d| *d = Some(dispatcher));
}

// ---------------------------------------------------------------- tokens

/// A cancellation token: cancelling it cancels every resource opened with it
/// (and with its children).
#[wasm_bindgen(js_name = Token)]
pub struct WasmToken {
    token: SharedToken,
}

#[wasm_bindgen(js_class = Token)]
impl WasmToken {
    /// Cancels the token and its children.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether the token (or a parent) was cancelled.
    #[wasm_bindgen(js_name = isCancelled)]
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A child token: cancelled with this one, or on its own.
    pub fn child(&self) -> WasmToken {
        WasmToken {
            token: TOKENS.wrap(self.token.child_token()),
        }
    }

    /// An id for `tokenFromShared` in this module instance.
    pub fn share(&self) -> f64 {
        to_f64(self.token.share())
    }
}

/// A new, uncancelled token.
#[wasm_bindgen(js_name = newToken)]
pub fn new_token() -> WasmToken {
    WasmToken {
        token: TOKENS.wrap(CancellationToken::new()),
    }
}

/// The token shared under `id`, while a JS object still holds it.
#[wasm_bindgen(js_name = tokenFromShared)]
pub fn token_from_shared(id: f64) -> Result<WasmToken, JsValue> {
    Ok(WasmToken {
        token: TOKENS.lookup(to_u64(id)).or_throw()?,
    })
}

// ---------------------------------------------------------------- resources

/// Reads are staged through a buffer of at most this size, so a read into a
/// huge JavaScript buffer does not grow the module's memory for good.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Reused staging buffer, so a read costs no allocation once warm.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Queues the core's availability events for the next drain.
struct QueueObserver {
    key: u32,
}

impl AvailabilityObserver for QueueObserver {
    fn on_write(&self, range: std::ops::Range<u64>) {
        push_event(Event::Progress(
            self.key,
            ProgressEvent::Write,
            to_f64(range.start),
            to_f64(range.end),
            None,
        ));
    }

    fn on_commit(&self, final_len: u64) {
        push_event(Event::Progress(
            self.key,
            ProgressEvent::Commit,
            to_f64(final_len),
            0.0,
            None,
        ));
    }

    fn on_fail(&self, reason: &str) {
        push_event(Event::Progress(
            self.key,
            ProgressEvent::Fail,
            0.0,
            0.0,
            Some(reason.to_owned()),
        ));
    }

    fn on_close(&self) {
        push_event(Event::Progress(
            self.key,
            ProgressEvent::Close,
            0.0,
            0.0,
            None,
        ));
    }
}

/// A storage resource in memory (plain or behind `Atomic`).
#[wasm_bindgen(js_name = Resource)]
pub struct WasmResource {
    /// `None` once this handle is closed: the resource is dropped then.
    res: Option<SharedResource>,
    /// The key of this handle's observer in `OBSERVERS`, and its id among
    /// the resource's observers.
    observer: Option<(u32, ObserverId)>,
}

impl WasmResource {
    fn wrap(res: SharedResource) -> Self {
        Self {
            res: Some(res),
            observer: None,
        }
    }

    fn shared(&self) -> Result<&SharedResource, JsValue> {
        self.res
            .as_ref()
            .ok_or_else(|| js_error(&StorageError::Closed.into()))
    }

    /// The resource, or `ERR_STORAGE_CLOSED` (the core's rule, see `AnyResource`).
    fn resource(&self) -> Result<&dyn ResourceExt, JsValue> {
        self.shared()?.resource().or_throw()
    }

    /// Removes this handle's observer from the resource and the table.
    fn drop_observer(&mut self) {
        if let Some((key, id)) = self.observer.take() {
            // Closed: `close` dropped every observer already.
            if let Some(r) = self.res.as_ref().and_then(|r| r.resource().ok()) {
                r.remove_observer(id);
            }
            OBSERVERS.with_borrow_mut(|o| o.remove(&key));
        }
    }
}

impl Drop for WasmResource {
    /// A collected handle stops listening; the others go on.
    fn drop(&mut self) {
        self.drop_observer();
    }
}

#[wasm_bindgen(js_class = Resource)]
impl WasmResource {
    /// Which driver is underneath.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> ResourceKind {
        // A closed handle was a memory resource: that is all this module opens.
        self.res
            .as_ref()
            .map_or(ResourceKind::Mem, |r| r.kind().into())
    }

    /// Writes `data` at `offset`.
    #[wasm_bindgen(js_name = writeAt)]
    pub fn write_at(&self, offset: f64, data: &[u8]) -> Result<(), JsValue> {
        self.resource()?.write_at(to_u64(offset), data).or_throw()
    }

    /// Reads at `offset` straight into `buf`; returns how many bytes.
    #[wasm_bindgen(js_name = readAt)]
    pub fn read_at(&self, offset: f64, buf: &Uint8Array) -> Result<f64, JsValue> {
        let r = self.resource()?;
        let want = buf.length() as usize;
        let offset = to_u64(offset);
        SCRATCH.with_borrow_mut(|scratch| {
            let mut done = 0usize;
            // One thread: nothing can write between the chunks, so they read one consistent state.
            while done < want {
                let chunk = (want - done).min(READ_CHUNK);
                if scratch.len() < chunk {
                    scratch.resize(chunk, 0);
                }
                let n = r
                    .read_at(offset + done as u64, &mut scratch[..chunk])
                    .or_throw()?;
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

    /// Writes `data` at 0 and commits with its length.
    #[wasm_bindgen(js_name = writeAll)]
    pub fn write_all(&self, data: &[u8]) -> Result<(), JsValue> {
        self.resource()?.write_all(data).or_throw()
    }

    /// `writeAll` (`Atomic` only; durability means nothing in memory).
    #[wasm_bindgen(js_name = writeAllDurable)]
    pub fn write_all_durable(&self, data: &[u8]) -> Result<(), JsValue> {
        self.shared()?.write_all_durable(data).or_throw()
    }

    /// The whole committed contents.
    #[wasm_bindgen(js_name = readAll)]
    pub fn read_all(&self) -> Result<Vec<u8>, JsValue> {
        self.shared()?.read_all().or_throw()
    }

    /// The outcome if decided now, else the id the dispatcher will be called with.
    #[wasm_bindgen(js_name = waitRange, unchecked_return_type = "WaitOutcome | number")]
    pub fn wait_range(&self, start: f64, end: f64) -> Result<JsValue, JsValue> {
        if DISPATCHER.with_borrow(Option::is_none) {
            return Err(js_error(
                &StorageError::Unsupported("waitRange before setWaitDispatcher").into(),
            ));
        }
        let r = self.resource()?;
        let range = to_u64(start)..to_u64(end);
        let deliver = |id, result| push_event(Event::Wait(id, result));
        let registered = PENDING
            .with_borrow_mut(|p| p.register(r, range, deliver))
            .or_throw()?;
        Ok(match registered {
            Registered::Decided(outcome) => WaitOutcome::from(outcome).into(),
            Registered::Pending(id) => to_f64(id).into(),
        })
    }

    /// Withdraws pending wait `id`; whether it was still pending.
    #[wasm_bindgen(js_name = cancelWait)]
    pub fn cancel_wait(&self, id: f64) -> bool {
        PENDING.with_borrow_mut(|p| p.withdraw(to_u64(id)))
    }

    /// Answers at once when the range is decided now. Otherwise nothing on
    /// this one thread could decide it while the thread blocks, so: a
    /// timeout of 0, or a finite one slept out (where the thread may block:
    /// Node, workers), throws `ERR_STORAGE_TIMEOUT`; no timeout, or a thread
    /// that may not block (a page's main thread), throws
    /// `ERR_STORAGE_UNSUPPORTED` instead of hanging.
    #[wasm_bindgen(js_name = waitRangeSync)]
    pub fn wait_range_sync(
        &self,
        start: f64,
        end: f64,
        timeout_ms: Option<f64>,
    ) -> Result<WaitOutcome, JsValue> {
        let r = self.resource()?;
        match r.register_waiter(to_u64(start)..to_u64(end), Box::new(|_| {})) {
            WaitRegistration::Decided(result) => return result.map(WaitOutcome::from).or_throw(),
            WaitRegistration::Pending(handle) => {
                handle.cancel();
            }
        }
        match timeout_ms {
            Some(ms) if ms == 0.0 || (ms.is_finite() && sleep(ms)) => {
                Err(js_error(&StorageError::Timeout.into()))
            }
            _ => Err(js_error(
                &StorageError::Unsupported(
                    "waitRangeSync cannot block on this WebAssembly thread; use waitRange",
                )
                .into(),
            )),
        }
    }

    /// Waits pending in the core on this resource (registered `waitRange`s).
    /// A diagnostic for tests, not public API: the facade does not expose it.
    #[wasm_bindgen(js_name = pendingWaiters)]
    pub fn pending_waiters(&self) -> Result<f64, JsValue> {
        let n = self.shared()?.pending_waiters().or_throw()?;
        Ok(to_f64(n as u64))
    }

    /// Whether every byte of `start..end` is written. Never blocks.
    #[wasm_bindgen(js_name = containsRange)]
    pub fn contains_range(&self, start: f64, end: f64) -> Result<bool, JsValue> {
        Ok(self.resource()?.contains_range(to_u64(start)..to_u64(end)))
    }

    /// The first missing range in `from..limit` as `[start, end]`.
    #[wasm_bindgen(js_name = nextGap)]
    pub fn next_gap(&self, from: f64, limit: f64) -> Result<Option<Vec<f64>>, JsValue> {
        let gap = self.resource()?.next_gap(to_u64(from), to_u64(limit));
        Ok(gap.map(|g| flat_ranges([g])))
    }

    /// Every written range, merged and in order, as `[start0, end0, start1, …]`.
    pub fn ranges(&self) -> Result<Vec<f64>, JsValue> {
        Ok(flat_ranges(self.resource()?.ranges()))
    }

    /// How many bytes are written.
    #[wasm_bindgen(js_name = presentBytes)]
    pub fn present_bytes(&self) -> Result<f64, JsValue> {
        Ok(to_f64(self.resource()?.present_bytes()))
    }

    /// Finishes writing; no `finalLen` means the end of the highest written byte.
    pub fn commit(&self, final_len: Option<f64>) -> Result<(), JsValue> {
        self.resource()?.commit(final_len.map(to_u64)).or_throw()
    }

    /// Marks the resource failed with `reason`.
    pub fn fail(&self, reason: String) -> Result<(), JsValue> {
        self.resource()?.fail(reason);
        Ok(())
    }

    /// Committed or failed back to active, keeping the data.
    pub fn reactivate(&self) -> Result<(), JsValue> {
        self.resource()?.reactivate().or_throw()
    }

    /// Wakes the current waiters with `interrupted`.
    pub fn interrupt(&self) -> Result<(), JsValue> {
        self.resource()?.interrupt();
        Ok(())
    }

    /// The lifecycle state (`closed` after `close`).
    #[wasm_bindgen(unchecked_return_type = "Status")]
    pub fn status(&self) -> Object {
        let obj = Object::new();
        let status = match &self.res {
            Some(r) => r.status(),
            None => kithara_storage::ResourceStatus::Closed.into(),
        };
        let set = |key: &str, value: JsValue| {
            // Setting a property on a fresh object cannot fail.
            let _ = Reflect::set(&obj, &JsValue::from_str(key), &value);
        };
        set("kind", StatusKind::from(status.kind).into());
        if let Some(len) = status.final_len {
            set("finalLen", to_f64(len).into());
        }
        if let Some(reason) = status.reason {
            set("reason", reason.into());
        }
        obj
    }

    /// The final length once committed, else the expected length.
    pub fn len(&self) -> Result<Option<f64>, JsValue> {
        Ok(self.resource()?.known_len().map(to_f64))
    }

    /// Whether the final length is known to be 0.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> Result<bool, JsValue> {
        Ok(self.resource()?.is_empty())
    }

    /// The expected length, or undefined.
    #[wasm_bindgen(js_name = expectedLen)]
    pub fn expected_len(&self) -> Result<Option<f64>, JsValue> {
        Ok(self.resource()?.expected_len().map(to_f64))
    }

    /// Sets (or with null clears) the expected length.
    #[wasm_bindgen(js_name = setExpectedLen)]
    pub fn set_expected_len(&self, len: Option<f64>) -> Result<(), JsValue> {
        self.resource()?
            .set_expected_len(len.map(to_u64))
            .or_throw()
    }

    /// The metadata (held in memory here).
    #[wasm_bindgen(unchecked_return_type = "Record<string, string>")]
    pub fn metadata(&self) -> Result<Object, JsValue> {
        let obj = Object::new();
        for (key, value) in self.resource()?.metadata() {
            Reflect::set(&obj, &JsValue::from(key), &JsValue::from(value))?;
        }
        Ok(obj)
    }

    /// Sets (a string) or removes (null) metadata entries, all at once.
    #[wasm_bindgen(js_name = updateMetadata)]
    pub fn update_metadata(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string | null>")] changes: &Object,
    ) -> Result<(), JsValue> {
        let r = self.resource()?;
        let mut list = Vec::new();
        for entry in Object::entries(changes).iter() {
            let pair: js_sys::Array = entry.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let value = pair.get(1);
            let value = if value.is_null() || value.is_undefined() {
                None
            } else {
                Some(value.as_string().ok_or_else(|| {
                    js_error(&StorageError::Unsupported("metadata values are strings").into())
                })?)
            };
            list.push((key, value));
        }
        r.update_metadata(list).or_throw()
    }

    /// Why the resource opened with less than it seemed to hold: `none` in memory.
    pub fn recovery(&self) -> Result<Recovery, JsValue> {
        Ok(self.resource()?.recovery().into())
    }

    /// `flush` as a promise: nothing to wait for in memory, so it settles
    /// at once (rejected if closed).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn sync(&self) -> Result<js_sys::Promise, JsValue> {
        self.resource()?.flush().or_throw()?;
        Ok(js_sys::Promise::resolve(&JsValue::UNDEFINED))
    }

    /// The backing file: never one here.
    pub fn path(&self) -> Result<Option<String>, JsValue> {
        Ok(self
            .resource()?
            .path()
            .map(|p| p.to_string_lossy().into_owned()))
    }

    /// Nothing to make durable in memory (but closed is closed).
    pub fn flush(&self) -> Result<(), JsValue> {
        self.resource()?.flush().or_throw()
    }

    /// Closes the resource (failing its waits with `ERR_STORAGE_CLOSED`) and
    /// drops this handle's hold on it, returning its memory now.
    pub fn close(&mut self) {
        if let Some(res) = self.res.take() {
            res.close();
        }
        // The resource dropped its observers; this one's entry in the
        // table goes once its `close` event is delivered.
        self.observer = None;
    }

    /// Whether `close` was called (on this handle or another of the same resource).
    #[wasm_bindgen(js_name = isClosed)]
    pub fn is_closed(&self) -> bool {
        self.res.as_ref().is_none_or(|r| r.is_closed())
    }

    /// Whether this resource follows a writer in another process (never, in memory).
    #[wasm_bindgen(js_name = isFollower)]
    pub fn is_follower(&self) -> Result<bool, JsValue> {
        Ok(self.resource()?.is_follower())
    }

    /// The same underlying resource behind an `Atomic` decorator.
    pub fn atomic(&self) -> Result<WasmResource, JsValue> {
        Ok(Self::wrap(self.shared()?.atomic().or_throw()?))
    }

    /// An id for `resourceFromShared` in this module instance.
    pub fn share(&self) -> Result<f64, JsValue> {
        self.resource()?;
        Ok(to_f64(self.shared()?.share()))
    }

    /// This handle's observer: `('write', start, end)` after each write,
    /// `('commit', finalLen, 0)`, `('fail', 0, 0, reason)` and
    /// `('close', 0, 0)`, from a microtask. Null stops it. Every handle of
    /// the resource may have one; each gets every event.
    #[wasm_bindgen(js_name = setObserver)]
    pub fn set_observer(
        &mut self,
        #[wasm_bindgen(
            unchecked_param_type = "((event: ProgressEvent, a: number, b: number, reason: string | null) => void) | null"
        )]
        observer: Option<Function>,
    ) -> Result<(), JsValue> {
        let res = std::sync::Arc::clone(self.shared()?);
        let r = res.resource().or_throw()?;
        self.drop_observer();
        let Some(f) = observer else {
            return Ok(());
        };
        let key = NEXT_OBSERVER.with_borrow_mut(|n| {
            *n = n.wrapping_add(1);
            *n
        });
        OBSERVERS.with_borrow_mut(|o| o.insert(key, f));
        let id = r.add_observer(std::sync::Arc::new(QueueObserver { key }));
        self.observer = Some((key, id));
        Ok(())
    }
}

/// Blocks the thread for `ms` milliseconds; `false` where it may not block
/// (a page's main thread, or no SharedArrayBuffer without cross-origin isolation).
fn sleep(ms: f64) -> bool {
    let has_sab = Reflect::get(&js_sys::global(), &JsValue::from_str("SharedArrayBuffer"))
        .is_ok_and(|v| v.is_function());
    if !has_sab {
        return false;
    }
    let cell = js_sys::Int32Array::new(&js_sys::SharedArrayBuffer::new(4));
    js_sys::Atomics::wait_with_timeout(&cell, 0, 0, ms).is_ok()
}

/// Files need a file system, which WebAssembly does not have.
#[wasm_bindgen(js_name = openMmap)]
pub fn open_mmap(
    _token: &WasmToken,
    _path: String,
    _initial_len: Option<f64>,
    _mode: OpenMode,
    _persist_ranges: bool,
    _flavor: Flavor,
) -> Result<WasmResource, JsValue> {
    Err(js_error(
        &StorageError::Unsupported(
            "MmapResource and AtomicChunked need files, which WebAssembly does not have",
        )
        .into(),
    ))
}

/// Opens a memory resource, committed with `initialData` when given.
#[wasm_bindgen(js_name = openMem)]
pub fn open_mem(
    token: &WasmToken,
    initial_data: Option<Vec<u8>>,
    capacity: f64,
    flavor: Flavor,
) -> Result<WasmResource, JsValue> {
    let mut opts = MemOptions::default();
    opts.initial_data = initial_data;
    opts.capacity = usize::try_from(to_u64(capacity)).unwrap_or(usize::MAX);
    let res = AnyResource::open_mem((*token.token).clone(), opts, flavor.try_into()?).or_throw()?;
    Ok(WasmResource::wrap(res))
}

/// The resource shared under `id`, while a JS object still holds it.
#[wasm_bindgen(js_name = resourceFromShared)]
pub fn resource_from_shared(id: f64) -> Result<WasmResource, JsValue> {
    Ok(WasmResource::wrap(RESOURCES.lookup(to_u64(id)).or_throw()?))
}

/// How many resources and tokens the share registry holds (for leak tests).
#[wasm_bindgen(js_name = sharedRegistrySize)]
pub fn shared_registry_size() -> f64 {
    (RESOURCES.len() + TOKENS.len()) as f64
}

/// The size of the module's linear memory in bytes (it never shrinks).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    f64::from(
        memory
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length(),
    )
}

// ---------------------------------------------------------------- coverage

/// Byte ranges of a download that have arrived, with an optional total size.
#[wasm_bindgen(js_name = Coverage)]
pub struct WasmCoverage {
    inner: MemCoverage,
}

#[wasm_bindgen(js_class = Coverage)]
impl WasmCoverage {
    /// Records `start..end` as arrived (an empty or inverted range is ignored).
    pub fn mark(&mut self, start: f64, end: f64) {
        self.inner.mark(to_u64(start)..to_u64(end));
    }

    /// Sets the total size, so gaps and completion are known.
    #[wasm_bindgen(js_name = setTotalSize)]
    pub fn set_total_size(&mut self, total: f64) {
        self.inner.set_total_size(to_u64(total));
    }

    /// The total size, or undefined when unknown.
    #[wasm_bindgen(js_name = totalSize)]
    pub fn total_size(&self) -> Option<f64> {
        self.inner.total_size().map(to_f64)
    }

    /// The first missing range at or after `from` as `[start, end]`.
    #[wasm_bindgen(js_name = nextGap)]
    pub fn next_gap(&self, from: f64) -> Option<Vec<f64>> {
        self.inner.next_gap(to_u64(from)).map(|g| flat_ranges([g]))
    }

    /// Whether the total size is known and every byte below it arrived.
    #[wasm_bindgen(js_name = isComplete)]
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// The arrived ranges, merged and in order, as `[start0, end0, start1, …]`.
    pub fn ranges(&self) -> Vec<f64> {
        flat_ranges(self.inner.ranges())
    }
}

/// A new, empty coverage.
#[wasm_bindgen(js_name = newCoverage)]
pub fn new_coverage() -> WasmCoverage {
    WasmCoverage {
        inner: MemCoverage::new(),
    }
}
