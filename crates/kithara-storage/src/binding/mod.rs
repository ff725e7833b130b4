#![forbid(unsafe_code)]
//! Support for language bindings: what the Node (napi-rs) and WebAssembly
//! bindings of this crate share, so that each behaviour is written once.
//!
//! A binding exposes [`AnyResource`] (one type over plain, [`Atomic`] and
//! [`AtomicChunked`] resources), turns [`ErrorDetails`] into its language's
//! error objects, keeps the waits it hands out in a [`PendingWaits`] table,
//! and shares resources and tokens between threads through the
//! [`RESOURCES`] and [`TOKENS`] registries. It converts values and delegates;
//! the rules live here and in the rest of the crate.
//!
//! Numbers cross the boundary as `f64` (JavaScript numbers): the caller
//! validates offsets before they get here, and [`to_u64`] / [`to_f64`] are
//! the one conversion each way.
//!
//! [`Atomic`]: crate::Atomic
//! [`AtomicChunked`]: crate::AtomicChunked

mod error;
mod registry;
mod resource;
mod waits;

pub use error::ErrorDetails;
pub use registry::{Registry, Shared, SharedResource, SharedToken, RESOURCES, TOKENS};
pub use resource::{AnyResource, Flavor, ResourceKind, Status, StatusKind};
pub use waits::{PendingWaits, Registered, WaitId};

/// A JavaScript number as an offset or length. The binding's caller has
/// validated it (an integer in `0..=2^53-1`); anything else saturates
/// (`NaN` and negatives to 0) rather than wrapping, so bad input stays harmless.
pub fn to_u64(n: f64) -> u64 {
    // `as` from f64 saturates and maps NaN to 0.
    n as u64
}

/// An offset or length as a JavaScript number (exact below 2^53, which every
/// file and buffer is).
pub fn to_f64(n: u64) -> f64 {
    n as f64
}

/// `[start, end)` pairs flattened into one list (`[s0, e0, s1, e1, …]`), the
/// shape in which ranges cross the boundary.
pub fn flat_ranges(ranges: impl IntoIterator<Item = std::ops::Range<u64>>) -> Vec<f64> {
    ranges
        .into_iter()
        .flat_map(|r| [to_f64(r.start), to_f64(r.end)])
        .collect()
}
