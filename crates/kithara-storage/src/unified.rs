#![forbid(unsafe_code)]
//! [`StorageResource`]: one type for either backend.

#[cfg(not(target_arch = "wasm32"))]
use crate::MmapResource;
use crate::{ext::forward_resource_ext, MemResource, ResourceExt};

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

impl StorageResource {
    /// The resource behind either variant.
    fn as_ext(&self) -> &dyn ResourceExt {
        match self {
            #[cfg(not(target_arch = "wasm32"))]
            Self::Mmap(r) => r,
            Self::Mem(r) => r,
        }
    }

    /// The number of waits currently pending (for diagnostics and tests).
    pub fn pending_waiters(&self) -> usize {
        match self {
            #[cfg(not(target_arch = "wasm32"))]
            Self::Mmap(r) => r.pending_waiters(),
            Self::Mem(r) => r.pending_waiters(),
        }
    }
}

impl ResourceExt for StorageResource {
    forward_resource_ext!(as_ext, lifecycle);
}
