//! Non-blocking waits: one ThreadsafeFunction per JavaScript thread (env)
//! carries every decided wait to the dispatcher given to `setWaitDispatcher`.
//!
//! Each Node env runs on its own thread (the main thread, or a worker's), so
//! per-env state lives in thread-locals: the dispatcher and the core's
//! [`PendingWaits`] table of the waits registered from that thread. The core
//! calls a wait's callback on whichever thread decides it; the callback only
//! queues `(id, result)` on the env's ThreadsafeFunction (non-blocking), so
//! no thread is ever parked.
//!
//! Liveness: the ThreadsafeFunction is ref'd while its env has pending waits
//! and unref'd otherwise, like a timer: a pending wait keeps the event loop
//! alive until it is decided or withdrawn, and an idle binding never does.
//!
//! Blocking waits (`waitRangeSync`) and thread termination: Node has no hook
//! that interrupts native code blocked on a worker thread. `worker.terminate()`
//! (and `process.exit()`, which terminates every worker and joins its thread)
//! marks the worker's env as stopping and asks V8 to terminate its
//! JavaScript, which only takes effect once our call returns. So a blocking
//! wait also wakes every [`STOP_CHECK_EVERY`] and asks [`env_is_stopping`];
//! when the env stops, the wait is withdrawn and the call returns, and the
//! thread ends. Writes, commits and the other events still wake it at once.

use std::{
    cell::RefCell,
    ops::Range,
    sync::{Arc, RwLock},
    time::Duration,
};

use kithara_storage::{
    binding::{to_f64, to_u64, PendingWaits, Registered, WaitId},
    ResourceExt, StorageError, WaitResult,
};
use napi::{
    bindgen_prelude::{Either, FnArgs, Function},
    threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode},
    Env, Status,
};

use crate::{
    error::{error_value, throw, OrThrow},
    names::WaitOutcome,
};

/// How often a blocking wait asks whether its env is stopping: the longest
/// `worker.terminate()` or `process.exit()` waits for a thread blocked in
/// `waitRangeSync`. Twenty checks a second cost a blocked thread a few
/// microseconds each.
pub const STOP_CHECK_EVERY: Duration = Duration::from_millis(50);

/// Whether the Node env of the calling thread is stopping
/// (`worker.terminate()`, `process.exit()`, the end of a worker).
///
/// Node exposes no direct question; every Node-API call that may run
/// JavaScript first checks that the env can still call into JavaScript and
/// otherwise fails with `napi_pending_exception` (or `napi_cannot_run_js`).
/// `napi_coerce_to_bool` of `false` is the cheapest such call and has no
/// effect. A runtime that never answers so keeps blocking waits blocked until
/// the resource decides them, as before.
pub fn env_is_stopping(env: &Env) -> bool {
    use napi::sys;
    let raw = env.raw();
    #[allow(unsafe_code)]
    // SAFETY: called on the env's own thread, inside a call from
    // JavaScript (`waitRangeSync`); every handle lives in the scope opened
    // and closed here, and the out pointers are valid locals.
    let status = unsafe {
        let mut scope = std::ptr::null_mut();
        if sys::napi_open_handle_scope(raw, &mut scope) != sys::Status::napi_ok {
            // Cannot ask: keep waiting, as without the check.
            return false;
        }
        let mut value = std::ptr::null_mut();
        let mut coerced = std::ptr::null_mut();
        let mut status = sys::napi_get_boolean(raw, false, &mut value);
        if status == sys::Status::napi_ok {
            status = sys::napi_coerce_to_bool(raw, value, &mut coerced);
        }
        sys::napi_close_handle_scope(raw, scope);
        status
    };
    status == sys::Status::napi_pending_exception || status == sys::Status::napi_cannot_run_js
}

/// What the dispatcher receives: `(id, error | null, outcome | null)`.
pub type DispatchArgs = FnArgs<(f64, Option<napi::Error>, Option<WaitOutcome>)>;

/// The env's dispatcher: called with one decided wait at a time.
type DispatchFn = ThreadsafeFunction<(WaitId, WaitResult), (), DispatchArgs, Status, false>;

/// The dispatcher of this env, shared with the callbacks that run elsewhere.
/// The lock is only written on the JS thread, to ref/unref it.
type SharedDispatch = Arc<RwLock<DispatchFn>>;

thread_local! {
    static DISPATCH: RefCell<Option<SharedDispatch>> = const { RefCell::new(None) };
    static PENDING: RefCell<PendingWaits> = RefCell::default();
}

/// Installs `dispatcher` as this env's wait dispatcher (replacing an earlier one).
pub fn set_dispatcher(env: &Env, dispatcher: Function<'_, DispatchArgs, ()>) -> napi::Result<()> {
    let tsfn: DispatchFn = dispatcher
        .build_threadsafe_function::<(WaitId, WaitResult)>()
        .callee_handled::<false>()
        .build_callback(|ctx| {
            let (id, result) = ctx.value;
            let pending = PENDING.with_borrow_mut(|p| p.settle(id));
            unref_if_idle(&ctx.env);
            Ok(match result {
                // Withdrawn after it was decided: the facade no longer knows the id.
                _ if !pending => (to_f64(id), None, None).into(),
                Ok(outcome) => (to_f64(id), None, Some(outcome.into())).into(),
                Err(e) => (to_f64(id), Some(error_value(&ctx.env, &e.into())?), None).into(),
            })
        })?;
    let shared = Arc::new(RwLock::new(tsfn));
    let busy = PENDING.with_borrow(|p| !p.is_empty());
    set_referenced(env, &shared, busy)?;
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

/// Lets the env's loop end once no wait is pending.
fn unref_if_idle(env: &Env) {
    if PENDING.with_borrow(PendingWaits::is_empty) {
        if let Some(d) = DISPATCH.with_borrow(Clone::clone) {
            let _ = set_referenced(env, &d, false);
        }
    }
}

/// Registers a wait for `range` and routes its later result to this env's
/// dispatcher: the outcome if decided now, else the id it will come with.
pub fn register(
    env: &Env,
    resource: &dyn ResourceExt,
    range: Range<u64>,
) -> napi::Result<Either<WaitOutcome, f64>> {
    let Some(dispatch) = DISPATCH.with_borrow(Clone::clone) else {
        return Err(throw(
            env,
            &StorageError::Unsupported("waitRange before setWaitDispatcher").into(),
        ));
    };
    let target = Arc::clone(&dispatch);
    let deliver = move |id: WaitId, result: WaitResult| {
        if let Ok(tsfn) = target.read() {
            // Non-blocking with an unbounded queue: this never waits. It only
            // fails while the env is shutting down, when nobody is listening.
            let _ = tsfn.call((id, result), ThreadsafeFunctionCallMode::NonBlocking);
        }
    };
    let (registered, first) = PENDING.with_borrow_mut(|p| {
        let idle = p.is_empty();
        (p.register(resource, range, deliver), idle)
    });
    Ok(match registered.or_throw(env)? {
        Registered::Decided(outcome) => Either::A(outcome.into()),
        Registered::Pending(id) => {
            if first {
                set_referenced(env, &dispatch, true)?;
            }
            Either::B(to_f64(id))
        }
    })
}

/// Withdraws wait `id`: `true` if it was pending, and then the dispatcher
/// gets no result for it.
pub fn withdraw(env: &Env, id: f64) -> bool {
    let was_pending = PENDING.with_borrow_mut(|p| p.withdraw(to_u64(id)));
    unref_if_idle(env);
    was_pending
}
