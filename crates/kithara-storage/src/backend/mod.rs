#![deny(unsafe_code)]
//! Backends: the generic [`Resource`] state machine and the drivers it runs on.

mod follow;
mod membuf;
mod memory;
#[cfg(target_os = "linux")]
mod mempool;
#[cfg(not(target_arch = "wasm32"))]
mod mmap;
#[cfg(not(target_arch = "wasm32"))]
mod record;
mod resource;

use std::{collections::BTreeMap, path::Path};

use rangemap::RangeSet;

pub use follow::Feed;
pub(crate) use follow::{Published, Source};
pub use memory::{MemDriver, MemOptions, MemResource};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use mmap::DEFAULT_INITIAL_LEN;
#[cfg(not(target_arch = "wasm32"))]
pub use mmap::{MmapDriver, MmapOptions, MmapResource};
pub use resource::Resource;

use crate::{Recovery, StorageResult};

/// Byte I/O of a backend. [`Resource`] owns the lifecycle, range tracking and
/// waiters, and calls these under its state lock, so a driver only moves
/// bytes and manages its storage.
pub trait DriverIo: Send + Sync + 'static {
    /// Copies bytes at `offset` into `buf` (already clamped by the resource to
    /// the readable length); returns how many were copied.
    ///
    /// # Errors
    /// `Closed` after [`close`](Self::close), or `Io`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize>;

    /// Copies `data` to `offset`, growing the storage as needed.
    ///
    /// # Errors
    /// `Io` when the storage cannot grow (disk full, size limit).
    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()>;

    /// Finalizes the storage at exactly `final_len` bytes and makes it read-only.
    ///
    /// # Errors
    /// `Io` from truncation or remapping.
    fn commit(&self, final_len: u64) -> StorageResult<()>;

    /// Starts the next generation of committed storage, keeping its bytes.
    ///
    /// Until the next [`commit`](Self::commit), reads below the committed
    /// length must return the committed bytes, unchanged by later writes, and
    /// no read may return bytes of both generations (stop a read at the
    /// committed length).
    ///
    /// # Errors
    /// `Io` reopening for writing.
    fn reactivate(&self) -> StorageResult<()>;

    /// Replaces the whole contents with `data` and commits at its length, so
    /// that readers (and, for files, a crash) see the old contents or the new,
    /// never a mix. `durable`: the new bytes are on disk before they replace
    /// the old. The default goes through [`reactivate`](Self::reactivate),
    /// [`write_at`](Self::write_at) and [`commit`](Self::commit).
    ///
    /// # Errors
    /// As `write_at` and `commit`.
    fn replace(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        let _ = durable;
        self.reactivate()?;
        self.write_at(0, data)?;
        self.commit(data.len() as u64)
    }

    /// Releases the storage now. Later reads fail with `Closed`.
    fn close(&self);

    /// Makes written bytes durable (msync and fdatasync for files). No-op in
    /// memory. Called without the resource's lock, from any thread.
    ///
    /// # Errors
    /// `Io` from the flush.
    fn flush(&self) -> StorageResult<()> {
        Ok(())
    }

    /// Records the available ranges beside the data so a reopen can restore
    /// them (see `MmapOptions::persist_ranges`), with the resource's
    /// metadata (`meta`, handed back in [`DriverState::meta`] at the next
    /// open). `committed` is the final length once committed; `epoch` is
    /// what [`epoch`](Self::epoch) said when the ranges were read: a driver
    /// whose storage changed since (a new generation) must not record them.
    /// Called after [`flush`](Self::flush), without the resource's lock, in
    /// the order the ranges were read. No-op unless the driver persists ranges.
    ///
    /// # Errors
    /// `Io` writing the record.
    fn persist_ranges(
        &self,
        _ranges: &RangeSet<u64>,
        _committed: Option<u64>,
        _epoch: u64,
        _meta: &BTreeMap<String, String>,
    ) -> StorageResult<()> {
        Ok(())
    }

    /// Whether [`persist_ranges`](Self::persist_ranges) writes anything.
    fn persists_ranges(&self) -> bool {
        false
    }

    /// A number that changes whenever the storage is swapped for a new
    /// generation. Read under the resource's lock.
    fn epoch(&self) -> u64 {
        0
    }

    /// Whether the storage lost bytes the resource counts as written (a file
    /// someone else cut): every access fails until
    /// [`reactivate`](Self::reactivate), after which the resource starts over
    /// with nothing present, since nothing proves which bytes survived.
    fn lost(&self) -> bool {
        false
    }

    /// Whether enough has been written since the last
    /// [`persist_ranges`](Self::persist_ranges) that the resource should
    /// flush and persist again.
    fn checkpoint_due(&self) -> bool {
        false
    }

    /// The backing file, if any.
    fn path(&self) -> Option<&Path>;
}

/// A driver's factory half: `Options` picks the driver at `Resource::open`.
///
/// `Resource::open(token, MmapOptions::new(path))` resolves to
/// `Resource<MmapDriver>` because `MmapOptions` is `<MmapDriver as Driver>::Options`.
pub trait Driver: DriverIo + Sized {
    /// What it takes to open one.
    type Options: Send;

    /// Opens or creates the storage; returns it with the state it starts in.
    ///
    /// # Errors
    /// `Io` if the storage cannot be opened or created.
    fn open(opts: Self::Options) -> StorageResult<(Self, DriverState)>;
}

/// The state a driver opens in.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct DriverState {
    /// Byte ranges that are already readable.
    pub available: RangeSet<u64>,
    /// `Some(len)` if the storage opens committed.
    pub final_len: Option<u64>,
    /// Writes, commits and reactivation fail with `ReadOnly`.
    pub read_only: bool,
    /// A write to the committed storage reactivates it instead of failing
    /// with `Committed` (`OpenMode::ReadWrite`).
    pub reopen_on_write: bool,
    /// Why less was recovered than the storage seemed to hold.
    pub recovery: Recovery,
    /// The metadata recorded with the ranges (see
    /// [`persist_ranges`](DriverIo::persist_ranges)).
    pub meta: BTreeMap<String, String>,
    /// Set for a follower: the storage is written by another process, and
    /// the resource learns its ranges and commit from this feed.
    pub feed: Option<Feed>,
}
