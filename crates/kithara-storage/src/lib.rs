//! Random-access storage resources for progressive downloads and streaming.
//!
//! A writer fills a [`MmapResource`] (a memory-mapped file) or a
//! [`MemResource`] (a buffer) at any offset, in any order; readers wait for
//! exactly the byte ranges they need with [`ResourceExt::wait_range`] (or the
//! non-blocking [`ResourceExt::register_waiter`] / [`ResourceExt::wait_range_future`])
//! and are woken by the write, commit, fail, cancel, interrupt or close that
//! decides their range — never by polling.
//!
//! ```
//! use kithara_storage::{CancellationToken, MemOptions, MemResource, Resource, ResourceExt, WaitOutcome};
//!
//! let res: MemResource = Resource::open(CancellationToken::new(), MemOptions::default())?;
//! let reader = res.clone();
//! let t = std::thread::spawn(move || reader.wait_range(0..5));
//! res.write_at(0, b"hello")?;
//! assert_eq!(t.join().unwrap()?, WaitOutcome::Ready);
//! res.commit(None)?;
//! let mut all = Vec::new();
//! res.read_into(&mut all)?;
//! assert_eq!(all, b"hello");
//! # Ok::<(), kithara_storage::StorageError>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod cancel;
mod coverage;
mod decorator;
mod error;
mod ext;
mod observer;
mod status;
mod unified;
mod waiter;

pub use backend::{Driver, DriverIo, DriverState, MemDriver, MemOptions, MemResource, Resource};
#[cfg(not(target_arch = "wasm32"))]
pub use backend::{MmapDriver, MmapOptions, MmapResource};
pub use coverage::{Coverage, MemCoverage};
pub use decorator::Atomic;
#[cfg(not(target_arch = "wasm32"))]
pub use decorator::{AtomicChunked, OpenIntent};
pub use error::{StorageError, StorageResult};
pub use ext::ResourceExt;
pub use observer::AvailabilityObserver;
pub use status::{OpenMode, ResourceStatus, WaitOutcome};
pub use tokio_util::sync::CancellationToken;
pub use unified::StorageResource;
pub use waiter::{WaitCallback, WaitFuture, WaitHandle, WaitOptions, WaitRegistration, WaitResult};
