#![forbid(unsafe_code)]
//! The mappings of closed memory resources, kept briefly for the next one.
//!
//! Writing a fresh memory resource is mostly the kernel faulting in and
//! zeroing pages (`clear_page_erms` was 77 % of a profile of 64 MiB written
//! in order into fresh resources). A resource that grows past 2 MiB soon
//! after another one closed takes that one's mapping instead ([`take`]): its
//! pages are already in memory, and [`MemBuf`](super::membuf::MemBuf) zeroes
//! only the old bytes a gap would expose.
//!
//! Unlike the seed's pool (256 MiB, kept for the life of the process) this
//! one is bounded and trims itself: at most [`KEEP_BYTES`] touched bytes in
//! all, a larger mapping is unmapped at once, and a mapping nobody took
//! within [`KEEP_FOR`] is unmapped by a short-lived thread (`kithara-trim`).
//! So memory still goes back to the system shortly after `close()`.

use std::{
    thread,
    time::{Duration, Instant},
};

use memmap2::MmapMut;
use parking_lot::{const_mutex, Mutex};

/// The most touched bytes (rounded up to huge pages) the pool holds in all.
pub(super) const KEEP_BYTES: usize = 64 << 20;

/// How long a parked mapping waits for a taker before it is unmapped.
pub(super) const KEEP_FOR: Duration = Duration::from_secs(1);

/// Touched bytes are counted in whole huge pages: that is what they hold.
const HUGE_PAGE: usize = 2 << 20;

/// A mapping given back by a closed resource.
#[derive(Debug)]
pub(super) struct Parked {
    pub(super) map: MmapMut,
    /// `map[..touched]` may hold old bytes; the rest is zero.
    pub(super) touched: usize,
}

#[derive(Debug)]
struct Entry {
    parked: Parked,
    /// What it counts against [`KEEP_BYTES`].
    cost: usize,
    since: Instant,
}

#[derive(Debug)]
struct Pool {
    /// Oldest first.
    entries: Vec<Entry>,
    cost: usize,
    /// Whether a `kithara-trim` thread is running (it ends when the pool is
    /// empty; the next park starts another).
    trimming: bool,
}

/// Lock order: a leaf. It is taken under a memory resource's buffer lock
/// (a buffer grows or is dropped there) and takes no other lock.
static POOL: Mutex<Pool> = const_mutex(Pool {
    entries: Vec::new(),
    cost: 0,
    trimming: false,
});

/// The newest parked mapping of exactly `len` bytes (the reservation size,
/// which resources with the same `max_len` share), if any.
pub(super) fn take(len: usize) -> Option<Parked> {
    let mut pool = POOL.lock();
    let at = pool
        .entries
        .iter()
        .rposition(|e| e.parked.map.len() == len)?;
    let entry = pool.entries.remove(at);
    pool.cost -= entry.cost;
    Some(entry.parked)
}

/// Keeps `parked` for a later [`take`], or unmaps it now if it alone is over
/// the bound or no trimming thread can run. Older mappings make room.
pub(super) fn park(parked: Parked) {
    let cost = parked.touched.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    if cost > KEEP_BYTES {
        return; // dropped: unmapped here
    }
    // Unmapped after the lock is released: `munmap` of many pages is slow.
    let mut evicted = Vec::new();
    let mut pool = POOL.lock();
    while pool.cost + cost > KEEP_BYTES {
        let oldest = pool.entries.remove(0);
        pool.cost -= oldest.cost;
        evicted.push(oldest);
    }
    if !pool.trimming {
        let spawned = thread::Builder::new()
            .name("kithara-trim".into())
            .spawn(trim);
        if spawned.is_err() {
            return; // nothing would unmap it later: unmapped now
        }
        pool.trimming = true;
    }
    pool.cost += cost;
    pool.entries.push(Entry {
        parked,
        cost,
        since: Instant::now(),
    });
}

/// The `kithara-trim` thread: unmaps each mapping [`KEEP_FOR`] after it was
/// parked, and ends once the pool is empty.
fn trim() {
    loop {
        let mut stale = Vec::new();
        let next = {
            let mut pool = POOL.lock();
            let now = Instant::now();
            while pool
                .entries
                .first()
                .is_some_and(|e| now >= e.since + KEEP_FOR)
            {
                let oldest = pool.entries.remove(0);
                pool.cost -= oldest.cost;
                stale.push(oldest);
            }
            match pool.entries.first() {
                Some(oldest) => oldest.since + KEEP_FOR - now,
                None => {
                    // Under the lock: a park after this starts a new thread.
                    pool.trimming = false;
                    return;
                }
            }
        };
        drop(stale);
        thread::sleep(next);
    }
}
