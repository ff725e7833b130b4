#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod backend;
pub mod binding;
mod cancel;
mod checkpoint;
mod coverage;
mod decorator;
mod error;
mod ext;
mod observer;
mod status;
mod sync;
#[cfg(not(target_arch = "wasm32"))]
mod sys;
#[cfg(not(target_arch = "wasm32"))]
mod temp;
mod unified;
mod waiter;

pub use backend::{Driver, DriverIo, DriverState, MemDriver, MemOptions, MemResource, Resource};
#[cfg(not(target_arch = "wasm32"))]
pub use backend::{MmapDriver, MmapOptions, MmapResource};
/// Hooks for this crate's own integration tests (feature `test-hooks`).
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod test_hooks {
    pub use crate::checkpoint::hooks::*;
    #[cfg(not(target_arch = "wasm32"))]
    pub use crate::sys::hooks::*;
}
pub use coverage::{Coverage, MemCoverage};
pub use decorator::Atomic;
#[cfg(not(target_arch = "wasm32"))]
pub use decorator::{AtomicChunked, OpenIntent};
pub use error::{StorageError, StorageResult};
pub use ext::{ResourceExt, SyncCallback};
pub use observer::{AvailabilityObserver, ObserverId};
pub use status::{OpenMode, Recovery, ResourceStatus, WaitOutcome};
pub use tokio_util::sync::CancellationToken;
pub use unified::StorageResource;
pub use waiter::{WaitCallback, WaitFuture, WaitHandle, WaitOptions, WaitRegistration, WaitResult};
