//! Non-blocking waits: one ThreadsafeFunction per JavaScript thread (env)
//! delivers every decided wait to the dispatcher given to `setWaitDispatcher`.
//!
//! Each Node env runs on its own thread (the main thread, or a worker's), so
//! per-env state lives in thread-locals: the dispatcher and the handles of the
//! waits registered from that thread. The core calls a wait's callback on
//! whichever thread decides it; the callback only queues `(id, result)` on the
//! env's ThreadsafeFunction (non-blocking), so no thread is ever parked.
//!
//! Liveness: the ThreadsafeFunction is ref'd while its env has pending waits
//! and unref'd otherwise, like a timer: a pending wait keeps the event loop
//! alive until it is decided or withdrawn, and an idle binding never does.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, RwLock,
    },
};

use kithara_storage::{StorageError, WaitHandle, WaitOutcome, WaitResult};
use napi::{
    bindgen_prelude::{FnArgs, Function},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Env, Status,
};

use crate::error::{error_value, throw};

/// What the dispatcher receives: `(id, error | null, outcome | null)`.
pub type DispatchArgs = FnArgs<(i64, Option<napi::Error>, Option<&'static str>)>;

/// The dispatcher as passed in from JavaScript.
pub type DispatcherJsFn<'f> = Function<'f, DispatchArgs, ()>;

/// The env's dispatcher: called with one decided wait at a time.
type DispatchFn = ThreadsafeFunction<(i64, WaitResult), (), DispatchArgs, Status, false>;

/// The dispatcher of this env, shared with the callbacks that run elsewhere.
/// The lock is only written on the JS thread, to ref/unref it.
type SharedDispatch = Arc<RwLock<DispatchFn>>;

thread_local! {
    static DISPATCH: RefCell<Option<SharedDispatch>> = const { RefCell::new(None) };
    static PENDING: RefCell<HashMap<i64, WaitHandle>> = RefCell::new(HashMap::new());
}

/// Wait ids are unique in the process, so a stray id can never match another env's wait.
static NEXT_WAIT_ID: AtomicI64 = AtomicI64::new(1);

/// The JavaScript string of a wait outcome.
pub fn outcome_str(outcome: WaitOutcome) -> &'static str {
    match outcome {
        WaitOutcome::Ready => "ready",
        WaitOutcome::Eof => "eof",
        WaitOutcome::Interrupted => "interrupted",
    }
}

/// Installs `dispatcher` as this env's wait dispatcher (replacing an earlier one).
pub fn set_dispatcher(env: &Env, dispatcher: DispatcherJsFn<'_>) -> napi::Result<()> {
    let tsfn: DispatchFn = dispatcher
        .build_threadsafe_function::<(i64, WaitResult)>()
        .callee_handled::<false>()
        .build_callback(|ctx| {
            let (id, result) = ctx.value;
            // Delivered: forget the handle, so cancelWait(id) reports false.
            forget(&ctx.env, id);
            Ok(match result {
                Ok(outcome) => (id, None, Some(outcome_str(outcome))).into(),
                Err(e) => (id, Some(error_value(&ctx.env, &e)?), None).into(),
            })
        })?;
    let shared = Arc::new(RwLock::new(tsfn));
    let pending = PENDING.with_borrow(HashMap::len);
    set_referenced(env, &shared, pending > 0)?;
    if let Some(old) = DISPATCH.with_borrow_mut(|d| d.replace(shared)) {
        // Waits registered before still deliver through the old function;
        // only the new one decides whether this env stays alive.
        set_referenced(env, &old, false)?;
    }
    Ok(())
}

#[allow(deprecated)] // ref/unref of one long-lived function is exactly what we need here
fn set_referenced(env: &Env, dispatch: &SharedDispatch, on: bool) -> napi::Result<()> {
    let mut tsfn = dispatch
        .write()
        .map_err(|_| napi::Error::from_reason("wait dispatcher lock poisoned"))?;
    if on {
        tsfn.refer(env)
    } else {
        tsfn.unref(env)
    }
}

/// Drops the handle of wait `id` (delivered or withdrawn); unrefs the
/// dispatcher when no wait is left.
fn forget(env: &Env, id: i64) -> Option<WaitHandle> {
    let (handle, left) = PENDING.with_borrow_mut(|p| (p.remove(&id), p.len()));
    if handle.is_some() && left == 0 {
        if let Some(d) = DISPATCH.with_borrow(Clone::clone) {
            let _ = set_referenced(env, &d, false);
        }
    }
    handle
}

/// The outcome string, or the id of a pending wait.
pub enum Registered {
    /// Decided at once.
    Decided(&'static str),
    /// Will be dispatched later with this id.
    Pending(i64),
}

/// Registers a wait through `register` (the core's `register_waiter`) and
/// routes its later result to this env's dispatcher.
pub fn register(
    env: &Env,
    register: impl FnOnce(kithara_storage::WaitCallback) -> kithara_storage::WaitRegistration,
) -> napi::Result<Registered> {
    let Some(dispatch) = DISPATCH.with_borrow(Clone::clone) else {
        return Err(throw(
            env,
            &StorageError::Unsupported("waitRange before setWaitDispatcher"),
        ));
    };
    let id = NEXT_WAIT_ID.fetch_add(1, Ordering::Relaxed);
    let target = Arc::clone(&dispatch);
    let callback = Box::new(move |result: WaitResult| {
        if let Ok(tsfn) = target.read() {
            // Non-blocking with an unbounded queue: this never waits. It only
            // fails while the env is shutting down, when nobody is listening.
            let _ = tsfn.call((id, result), ThreadsafeFunctionCallMode::NonBlocking);
        }
    });
    match register(callback) {
        kithara_storage::WaitRegistration::Decided(Ok(outcome)) => {
            Ok(Registered::Decided(outcome_str(outcome)))
        }
        kithara_storage::WaitRegistration::Decided(Err(e)) => Err(throw(env, &e)),
        kithara_storage::WaitRegistration::Pending(handle) => {
            let was_idle = PENDING.with_borrow_mut(|p| {
                p.insert(id, handle);
                p.len() == 1
            });
            if was_idle {
                set_referenced(env, &dispatch, true)?;
            }
            Ok(Registered::Pending(id))
        }
    }
}

/// Withdraws wait `id`. `true` if it was still pending: the dispatcher will
/// then never be called for it. `false` if it was already decided (its
/// result is on its way to the dispatcher) or is unknown.
pub fn cancel(env: &Env, id: i64) -> bool {
    match forget(env, id) {
        Some(handle) => handle.cancel(),
        None => false,
    }
}
