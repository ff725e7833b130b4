//! Node.js binding of `kithara-storage` (napi-rs 3).
//!
//! Thin by design: every export converts its arguments, calls the core and
//! converts the result or error. The contract it implements is
//! `NativeBackend` in `src/native.ts`; the TypeScript facade validates
//! arguments before calling in here.
#![deny(unsafe_code)]

mod coverage;
mod error;
mod registry;
mod resource;
mod token;
mod wait;

use napi::Env;
use napi_derive::napi;

pub use coverage::NativeCoverage;
pub use resource::{NativeResource, NativeStatus};
pub use token::NativeToken;

/// Installs the function that receives every pending wait of this thread
/// once it is decided: `(id, error | null, outcome | null)`.
#[napi(
    ts_args_type = "dispatcher: (id: number, error: Error | null, outcome: 'ready' | 'eof' | 'interrupted' | null) => void"
)]
pub fn set_wait_dispatcher(env: Env, dispatcher: wait::DispatcherJsFn<'_>) -> napi::Result<()> {
    wait::set_dispatcher(&env, dispatcher)
}

/// Runs when the addon is loaded: a write past `RLIMIT_FSIZE` must fail with
/// `EFBIG` (an `ERR_STORAGE_IO` error), not kill the process with SIGXFSZ.
#[cfg(unix)]
#[napi_derive::module_init]
fn ignore_sigxfsz() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // code, touches no Rust state, and is async-signal-safe; it is done once,
    // while the addon is being loaded.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
