#![forbid(unsafe_code)]
//! [`MemBuf`]: the growable bytes of a memory resource.
//!
//! A fresh resource written front to back spends most of its time in the
//! kernel, faulting in (and zeroing) one 4 KiB page per 4 KiB written; a
//! `Vec` adds a zero fill of every grown byte and copies on reallocation.
//! So on Linux, once a resource outgrows [`MAPPED_FROM`], its bytes move to
//! an anonymous mapping reserved up to the resource's ceiling (address space
//! only, `MAP_NORESERVE`) and marked for transparent huge pages: growth never
//! copies or zero-fills (fresh anonymous pages are zero), and the kernel
//! faults in 2 MiB at a time. Closing the resource unmaps it, so the memory
//! goes back to the system at once (no pool keeps it). Smaller resources
//! stay in a `Vec`: they cost no mapping and never round up to a huge page.
//! Elsewhere (other systems, WebAssembly, or when the reservation fails) the
//! bytes stay in the `Vec`.
//!
//! Measured (bench/rust, 64 MiB into a fresh resource): hinting only the part
//! past 2 MiB and mapping from 64 KiB on was slower than this (the first
//! 2 MiB then fault in 4 KiB at a time inside the mapping).

#[cfg(target_os = "linux")]
use super::mempool;
use crate::{StorageError, StorageResult};

fn out_of_memory() -> StorageError {
    StorageError::io(
        std::io::Error::from(std::io::ErrorKind::OutOfMemory),
        "alloc",
        None,
    )
}

/// Resources up to this size stay in a `Vec` (one huge page: a smaller
/// resource would waste most of one).
#[cfg(target_os = "linux")]
const MAPPED_FROM: usize = 2 << 20;

/// Where the bytes are.
#[derive(Debug)]
enum Store {
    Vec(Vec<u8>),
    /// `map[..len]` holds the bytes. `touched` is past every byte ever
    /// written to the mapping (by this buffer, or by the resource that had it
    /// before): `map[len..touched]` may hold old bytes, and `map[touched..]`
    /// is zero.
    #[cfg(target_os = "linux")]
    Mapped {
        map: memmap2::MmapMut,
        len: usize,
        touched: usize,
    },
}

/// Bytes that grow up to a ceiling; `len()` of them are in use.
#[derive(Debug)]
pub(super) struct MemBuf {
    store: Store,
    /// The most this buffer is asked to hold (the resource's `max_len`): the
    /// size of the reservation once mapped.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    ceiling: usize,
}

impl MemBuf {
    /// An empty buffer; `capacity` bytes are allocated up front (a hint).
    pub(super) fn with_capacity(capacity: usize, ceiling: usize) -> StorageResult<Self> {
        let mut buf = Self::from_vec(Vec::new(), ceiling);
        buf.reserve(capacity)?;
        Ok(buf)
    }

    /// A buffer holding `data` (kept as it is, whatever its size).
    pub(super) fn from_vec(data: Vec<u8>, ceiling: usize) -> Self {
        Self {
            store: Store::Vec(data),
            ceiling,
        }
    }

    pub(super) fn len(&self) -> usize {
        match &self.store {
            Store::Vec(v) => v.len(),
            #[cfg(target_os = "linux")]
            Store::Mapped { len, .. } => *len,
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        match &self.store {
            Store::Vec(v) => v,
            #[cfg(target_os = "linux")]
            Store::Mapped { map, len, .. } => &map[..*len],
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.store {
            Store::Vec(v) => v,
            #[cfg(target_os = "linux")]
            Store::Mapped { map, len, touched } => {
                // The caller may write any of them.
                *touched = (*touched).max(*len);
                &mut map[..*len]
            }
        }
    }

    /// Writes `data` at `start`, growing the buffer as needed; bytes between
    /// the old end and `start` read as zero.
    pub(super) fn write_at(&mut self, start: usize, data: &[u8]) -> StorageResult<()> {
        let end = start + data.len();
        if end > self.len() {
            self.reserve(end)?;
        }
        match &mut self.store {
            Store::Vec(v) => {
                let old = v.len();
                if start > old {
                    v.resize(start, 0);
                }
                // The part below the old end overwrites; the rest appends,
                // so grown bytes are written once, not zero-filled first.
                let split = old.clamp(start, end) - start;
                v[start..start + split].copy_from_slice(&data[..split]);
                v.extend_from_slice(&data[split..]);
            }
            #[cfg(target_os = "linux")]
            Store::Mapped { map, len, touched } => {
                zero_old(map, *len..start, *touched);
                map[start..end].copy_from_slice(data);
                *len = (*len).max(end);
                *touched = (*touched).max(end);
            }
        }
        Ok(())
    }

    /// Sets the length to `len`: new bytes read as zero, cut bytes are gone
    /// (growing again reads zeros there, not the old bytes).
    pub(super) fn resize(&mut self, len: usize) -> StorageResult<()> {
        if len > self.len() {
            self.reserve(len)?;
        }
        match &mut self.store {
            Store::Vec(v) => v.resize(len, 0),
            #[cfg(target_os = "linux")]
            // Cut bytes stay until a growth zeroes them: a cut costs nothing.
            Store::Mapped {
                map,
                len: used,
                touched,
            } => {
                zero_old(map, *used..len, *touched);
                *used = len;
            }
        }
        Ok(())
    }

    /// Makes room for `total` bytes in all (not more), moving to a mapping
    /// past [`MAPPED_FROM`].
    fn reserve(&mut self, total: usize) -> StorageResult<()> {
        match &mut self.store {
            Store::Vec(v) => {
                #[cfg(target_os = "linux")]
                if total > MAPPED_FROM && total <= self.ceiling {
                    let (map, touched) = match mempool::take(self.ceiling) {
                        Some(parked) => (Some(parked.map), parked.touched),
                        None => (reserve_mapping(self.ceiling), 0),
                    };
                    if let Some(mut map) = map {
                        let len = v.len();
                        map[..len].copy_from_slice(v);
                        self.store = Store::Mapped {
                            map,
                            len,
                            touched: touched.max(len),
                        };
                        return Ok(());
                    }
                }
                if total > v.len() {
                    v.try_reserve(total - v.len())
                        .map_err(|_| out_of_memory())?;
                }
                Ok(())
            }
            #[cfg(target_os = "linux")]
            Store::Mapped { map, .. } => {
                // The caller checked `total` against `max_len`, the size of
                // the reservation; a larger one is a bug, not an input.
                debug_assert!(total <= map.len());
                if total > map.len() {
                    return Err(out_of_memory());
                }
                Ok(())
            }
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for MemBuf {
    /// A mapping goes to the pool (which unmaps it soon if nobody takes it).
    fn drop(&mut self) {
        if let Store::Mapped { map, touched, .. } =
            std::mem::replace(&mut self.store, Store::Vec(Vec::new()))
        {
            mempool::park(mempool::Parked { map, touched });
        }
    }
}

/// Zeroes the part of `range` (bytes about to be exposed past the old end)
/// below `touched`, where an old byte may be; above it the mapping is zero.
#[cfg(target_os = "linux")]
fn zero_old(map: &mut [u8], range: std::ops::Range<usize>, touched: usize) {
    let end = range.end.min(touched);
    if range.start < end {
        map[range.start..end].fill(0);
    }
}

/// An anonymous mapping of `len` bytes of address space, for huge pages;
/// `None` where the system refuses (address-space limits, strict
/// overcommit), and the bytes stay in a `Vec`.
#[cfg(target_os = "linux")]
fn reserve_mapping(len: usize) -> Option<memmap2::MmapMut> {
    let map = memmap2::MmapOptions::new()
        .len(len)
        .no_reserve_swap()
        .map_anon()
        .ok()?;
    // A hint: where THP is off, the mapping still avoids copies and fills.
    let _ = map.advise(memmap2::Advice::HugePage);
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CEILING: usize = 64 << 20;

    fn written(buf: &MemBuf) -> Vec<u8> {
        buf.as_slice().to_vec()
    }

    #[test]
    fn gaps_read_as_zero_and_overlaps_overwrite() {
        let mut buf = MemBuf::with_capacity(0, CEILING).unwrap();
        buf.write_at(4, b"abcd").unwrap();
        assert_eq!(written(&buf), b"\0\0\0\0abcd");
        buf.write_at(6, b"XYZW").unwrap();
        assert_eq!(written(&buf), b"\0\0\0\0abXYZW");
        buf.write_at(0, b"01").unwrap();
        assert_eq!(written(&buf), b"01\0\0abXYZW");
    }

    #[test]
    fn growth_past_the_vec_keeps_every_byte() {
        let mut buf = MemBuf::with_capacity(0, CEILING).unwrap();
        let head: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
        buf.write_at(0, &head).unwrap();
        // Crosses into the mapping (on Linux), leaving a gap.
        let far = 3 << 20;
        buf.write_at(far, b"tail").unwrap();
        assert_eq!(buf.len(), far + 4);
        let all = buf.as_slice();
        assert_eq!(&all[..4096], &head[..]);
        assert!(all[4096..far].iter().all(|&b| b == 0));
        assert_eq!(&all[far..], b"tail");
    }

    /// A buffer past the `Vec`, its first `n` bytes `fill`, with `ceiling`.
    #[cfg(target_os = "linux")]
    fn mapped(ceiling: usize, n: usize, fill: u8) -> MemBuf {
        let mut buf = MemBuf::with_capacity(0, ceiling).unwrap();
        buf.write_at(0, &vec![fill; n]).unwrap();
        assert!(matches!(buf.store, Store::Mapped { .. }));
        buf
    }

    /// A closed resource's mapping, taken by the next one, shows none of its
    /// old bytes: not in a gap, not after a cut and a growth, not in a
    /// growth. (Each case has its own ceiling, so it takes the
    /// mapping its own first buffer parked and no other test's.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_reused_mapping_shows_none_of_its_old_bytes() {
        let size = 6 << 20;
        for case in 0..3 {
            let ceiling = CEILING + (case + 1) * 4096;
            let old = mapped(ceiling, size, 0xEE);
            drop(old);
            let mut buf = MemBuf::with_capacity(0, ceiling).unwrap();
            match case {
                0 => {
                    // In order to 3 MiB, then a gap to 5 MiB.
                    buf.write_at(0, &vec![1u8; 3 << 20]).unwrap();
                    buf.write_at(5 << 20, b"tail").unwrap();
                }
                1 => {
                    buf.write_at(0, &vec![1u8; 3 << 20]).unwrap();
                    buf.resize(10).unwrap();
                    buf.resize(size).unwrap();
                }
                _ => {
                    buf.write_at(0, &vec![1u8; 3 << 20]).unwrap();
                    buf.resize(size + 4096).unwrap();
                }
            }
            // A fresh mapping would know only this buffer's writes, all
            // below `size` (its address proves nothing: the kernel may hand
            // out the unmapped range again).
            let Store::Mapped { touched, .. } = buf.store else {
                panic!("case {case}: not mapped");
            };
            assert!(touched >= size, "case {case}: the parked mapping was taken");
            assert!(
                !buf.as_slice().contains(&0xEE),
                "case {case}: an old byte showed"
            );
        }
    }

    /// A mapped buffer holds up to its ceiling exactly, and not a byte more
    /// (the resource refuses more before it asks).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_mapped_buffer_fills_to_its_ceiling() {
        let ceiling = 3 << 20;
        let mut buf = mapped(ceiling, ceiling - 4096, 1);
        buf.write_at(ceiling - 4096, &[2u8; 4096]).unwrap();
        assert_eq!(buf.len(), ceiling);
        buf.resize(10).unwrap();
        buf.resize(ceiling).unwrap();
        assert_eq!(buf.len(), ceiling);
    }

    /// Cut bytes stay in a mapping until a growth zeroes them, so the buffer
    /// must know every byte written there: also those moved in from the
    /// `Vec`, and those a rewrite wrote through the slice.
    #[cfg(target_os = "linux")]
    #[test]
    fn cut_bytes_moved_in_or_written_through_the_slice_do_not_come_back() {
        // Fresh mappings: a ceiling no other test parks.
        let ceiling = CEILING + 64 * 4096;
        let moved = {
            let mut buf = MemBuf::with_capacity(0, ceiling).unwrap();
            buf.write_at(0, &vec![7u8; 1 << 20]).unwrap();
            buf.resize(3 << 20).unwrap();
            buf
        };
        let sliced = {
            let mut buf = MemBuf::with_capacity(0, ceiling).unwrap();
            buf.resize(3 << 20).unwrap();
            buf.as_mut_slice().fill(7);
            buf
        };
        for (name, mut buf) in [("moved", moved), ("sliced", sliced)] {
            assert!(matches!(buf.store, Store::Mapped { .. }));
            buf.resize(10).unwrap();
            buf.resize(3 << 20).unwrap();
            assert!(
                !buf.as_slice()[10..].contains(&7),
                "{name}: a cut byte came back"
            );
        }
    }

    #[test]
    fn cut_bytes_do_not_come_back() {
        for size in [64, 5 << 20] {
            let mut buf = MemBuf::with_capacity(0, CEILING).unwrap();
            buf.write_at(0, &vec![7u8; size]).unwrap();
            buf.resize(10).unwrap();
            assert_eq!(buf.len(), 10);
            buf.resize(size).unwrap();
            assert!(buf.as_slice()[10..].iter().all(|&b| b == 0), "size {size}");
            assert!(buf.as_slice()[..10].iter().all(|&b| b == 7));
        }
    }
}
