//! Node.js binding of `kithara-storage` (napi-rs 3).
//!
//! Thin by design: every export converts its arguments, calls the core's
//! binding layer (`kithara_storage::binding`) and converts the result or
//! error. napi-rs generates the loader and its typings (`native-binding.js`,
//! `native-binding.d.ts`); the facade checks them against its backend
//! contract (`src/backend-contract.ts`) at compile time and validates every
//! argument before calling in here.
//!
//! The binding leaves process-wide state alone. In particular it does not
//! touch the SIGXFSZ disposition: Node itself ignores SIGXFSZ since v12
//! (nodejs/node#27798), so a write past `RLIMIT_FSIZE` fails with `EFBIG`.
#![deny(unsafe_code)]

mod coverage;
mod error;
mod names;
mod resource;
mod token;
mod wait;

use napi::{
    bindgen_prelude::{FnArgs, Function},
    Env,
};
use napi_derive::napi;

pub use coverage::NodeCoverage;
pub use resource::NodeResource;
pub use token::NodeToken;

/// Installs the function that receives every pending wait of this thread
/// once it is decided: `(id, error | null, outcome | null)`.
#[napi]
#[allow(clippy::type_complexity)] // spelled out: napi-rs types the callback from it
pub fn set_wait_dispatcher(
    env: Env,
    dispatcher: Function<'_, FnArgs<(f64, Option<napi::Error>, Option<names::WaitOutcome>)>, ()>,
) -> napi::Result<()> {
    wait::set_dispatcher(&env, dispatcher)
}
