#![forbid(unsafe_code)]
//! [`StorageResource`]: one type for either backend.

use std::{ops::Range, path::Path};

#[cfg(not(target_arch = "wasm32"))]
use crate::MmapResource;
use crate::{
    waiter::{WaitCallback, WaitRegistration},
    MemResource, Recovery, ResourceExt, ResourceStatus, StorageResult, SyncCallback, WaitOutcome,
};

/// A resource on either backend, for code that should not care which.
#[derive(Debug, Clone)]
pub enum StorageResource {
    /// File-backed.
    #[cfg(not(target_arch = "wasm32"))]
    Mmap(MmapResource),
    /// In memory.
    Mem(MemResource),
}

#[cfg(not(target_arch = "wasm32"))]
impl From<MmapResource> for StorageResource {
    fn from(r: MmapResource) -> Self {
        Self::Mmap(r)
    }
}

impl From<MemResource> for StorageResource {
    fn from(r: MemResource) -> Self {
        Self::Mem(r)
    }
}

macro_rules! dispatch {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            #[cfg(not(target_arch = "wasm32"))]
            StorageResource::Mmap($r) => $e,
            StorageResource::Mem($r) => $e,
        }
    };
}

impl ResourceExt for StorageResource {
    fn commit(&self, final_len: Option<u64>) -> StorageResult<()> {
        dispatch!(self, r => r.commit(final_len))
    }
    fn contains_range(&self, range: Range<u64>) -> bool {
        dispatch!(self, r => r.contains_range(range))
    }
    fn fail(&self, reason: String) {
        dispatch!(self, r => r.fail(reason))
    }
    fn len(&self) -> Option<u64> {
        dispatch!(self, r => r.len())
    }
    fn next_gap(&self, from: u64, limit: u64) -> Option<Range<u64>> {
        dispatch!(self, r => r.next_gap(from, limit))
    }
    fn path(&self) -> Option<&Path> {
        dispatch!(self, r => r.path())
    }
    fn reactivate(&self) -> StorageResult<()> {
        dispatch!(self, r => r.reactivate())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> StorageResult<usize> {
        dispatch!(self, r => r.read_at(offset, buf))
    }
    fn status(&self) -> ResourceStatus {
        dispatch!(self, r => r.status())
    }
    fn wait_range(&self, range: Range<u64>) -> StorageResult<WaitOutcome> {
        dispatch!(self, r => r.wait_range(range))
    }
    fn register_waiter(&self, range: Range<u64>, callback: WaitCallback) -> WaitRegistration {
        dispatch!(self, r => r.register_waiter(range, callback))
    }
    fn interrupt(&self) {
        dispatch!(self, r => r.interrupt())
    }
    fn close(&self) {
        dispatch!(self, r => r.close())
    }
    fn is_closed(&self) -> bool {
        dispatch!(self, r => r.is_closed())
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> StorageResult<()> {
        dispatch!(self, r => r.write_at(offset, data))
    }
    fn replace_all(&self, data: &[u8], durable: bool) -> StorageResult<()> {
        dispatch!(self, r => r.replace_all(data, durable))
    }
    fn recovery(&self) -> Recovery {
        dispatch!(self, r => r.recovery())
    }
    fn flush(&self) -> StorageResult<()> {
        dispatch!(self, r => ResourceExt::flush(r))
    }
    fn sync_with(&self, callback: SyncCallback) {
        dispatch!(self, r => r.sync_with(callback))
    }
}
