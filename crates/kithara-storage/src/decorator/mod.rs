#![forbid(unsafe_code)]
//! Decorators that add crash safety on top of a resource.

mod atomic;
#[cfg(not(target_arch = "wasm32"))]
mod chunked;

pub use atomic::Atomic;
#[cfg(not(target_arch = "wasm32"))]
pub use chunked::{AtomicChunked, OpenIntent};

/// Forwards every [`ResourceExt`](crate::ResourceExt) method but the ones a
/// decorator defines itself to the resource its `$target` method returns.
macro_rules! forward_resource_ext {
    ($target:ident) => {
        fn contains_range(&self, range: std::ops::Range<u64>) -> bool {
            self.$target().contains_range(range)
        }
        fn len(&self) -> Option<u64> {
            self.$target().len()
        }
        fn next_gap(&self, from: u64, limit: u64) -> Option<std::ops::Range<u64>> {
            self.$target().next_gap(from, limit)
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::StorageResult<usize> {
            self.$target().read_at(offset, buf)
        }
        fn status(&self) -> crate::ResourceStatus {
            self.$target().status()
        }
        fn register_waiter(
            &self,
            range: std::ops::Range<u64>,
            callback: crate::WaitCallback,
        ) -> crate::WaitRegistration {
            self.$target().register_waiter(range, callback)
        }
        fn interrupt(&self) {
            self.$target().interrupt()
        }
        fn is_closed(&self) -> bool {
            self.$target().is_closed()
        }
        fn write_at(&self, offset: u64, data: &[u8]) -> crate::StorageResult<()> {
            self.$target().write_at(offset, data)
        }
        fn recovery(&self) -> crate::Recovery {
            self.$target().recovery()
        }
        fn flush(&self) -> crate::StorageResult<()> {
            self.$target().flush()
        }
        fn sync_with(&self, callback: crate::SyncCallback) {
            self.$target().sync_with(callback)
        }
    };
}
pub(crate) use forward_resource_ext;
