#![forbid(unsafe_code)]
//! Decorators that add crash safety on top of a resource.

mod atomic;
#[cfg(not(target_arch = "wasm32"))]
mod chunked;

pub use atomic::Atomic;
#[cfg(not(target_arch = "wasm32"))]
pub use chunked::{AtomicChunked, OpenIntent};
