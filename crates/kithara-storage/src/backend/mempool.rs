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
const KEEP_BYTES: usize = 64 << 20;

/// How long a parked mapping waits for a taker before it is unmapped.
/// (Longer in unit tests, so that a slow machine cannot expire a mapping a
/// test is about to take.)
#[cfg(not(test))]
const KEEP_FOR: Duration = Duration::from_secs(1);
#[cfg(test)]
const KEEP_FOR: Duration = Duration::from_secs(60);

/// Touched bytes are counted in whole huge pages: that is what they hold.
const HUGE_PAGE: usize = 2 << 20;

/// A mapping given back by a closed resource.
#[derive(Debug)]
pub(super) struct Parked {
    pub(super) map: MmapMut,
    /// `map[..touched]` may hold old bytes; the rest is zero.
    pub(super) touched: usize,
}

impl Parked {
    /// What it counts against [`KEEP_BYTES`].
    fn cost(&self) -> usize {
        self.touched.div_ceil(HUGE_PAGE) * HUGE_PAGE
    }
}

#[derive(Debug)]
struct Entry {
    parked: Parked,
    since: Instant,
}

/// The parked mappings and their accounting; the process has one, [`POOL`].
#[derive(Debug)]
struct Pool {
    /// Oldest first; at most 32 (each costs a huge page or more).
    entries: Vec<Entry>,
    /// Whether a `kithara-trim` thread is running (it ends when the pool is
    /// empty; the next park starts another).
    trimming: bool,
}

impl Pool {
    const fn new() -> Self {
        Self {
            entries: Vec::new(),
            trimming: false,
        }
    }

    /// Removes and returns the newest entry of exactly `len` bytes.
    fn take(&mut self, len: usize) -> Option<Parked> {
        let at = self
            .entries
            .iter()
            .rposition(|e| e.parked.map.len() == len)?;
        Some(self.entries.remove(at).parked)
    }

    /// What the entries count against [`KEEP_BYTES`].
    fn cost(&self) -> usize {
        self.entries.iter().map(|e| e.parked.cost()).sum()
    }

    /// Keeps `parked` from `now` on, making room by removing the oldest
    /// entries; returns what is to be unmapped (`parked` itself if it alone
    /// is over the bound).
    fn put(&mut self, parked: Parked, now: Instant) -> Vec<Parked> {
        let cost = parked.cost();
        if cost > KEEP_BYTES {
            return vec![parked];
        }
        let mut evicted = Vec::new();
        while self.cost() + cost > KEEP_BYTES {
            evicted.push(self.remove_oldest());
        }
        self.entries.push(Entry { parked, since: now });
        evicted
    }

    /// Removes the entries parked [`KEEP_FOR`] or longer before `now`;
    /// returns them and when the next one is due, if any is left.
    fn expire(&mut self, now: Instant) -> (Vec<Parked>, Option<Instant>) {
        let mut stale = Vec::new();
        while self
            .entries
            .first()
            .is_some_and(|e| now >= e.since + KEEP_FOR)
        {
            stale.push(self.remove_oldest());
        }
        let next = self.entries.first().map(|e| e.since + KEEP_FOR);
        (stale, next)
    }

    fn take_all(&mut self) -> Vec<Parked> {
        self.entries.drain(..).map(|e| e.parked).collect()
    }

    fn remove_oldest(&mut self) -> Parked {
        self.entries.remove(0).parked
    }
}

/// Lock order: a leaf. It is taken under a memory resource's buffer lock
/// (a buffer grows or is dropped there) and takes no other lock. Mappings
/// leaving it are unmapped after it is released: `munmap` of many pages is
/// slow.
static POOL: Mutex<Pool> = const_mutex(Pool::new());

/// The newest parked mapping of exactly `len` bytes (the reservation size,
/// which resources with the same `max_len` share), if any.
pub(super) fn take(len: usize) -> Option<Parked> {
    POOL.lock().take(len)
}

/// Keeps `parked` for a later [`take`], or unmaps it now if it alone is over
/// the bound or no trimming thread can run. Older mappings make room.
pub(super) fn park(parked: Parked) {
    let mut pool = POOL.lock();
    let mut unmapped = pool.put(parked, Instant::now());
    if !pool.trimming && !pool.entries.is_empty() {
        let spawned = thread::Builder::new()
            .name("kithara-trim".into())
            .spawn(trim);
        if spawned.is_ok() {
            pool.trimming = true;
        } else {
            // Nothing would unmap them later: now.
            unmapped.extend(pool.take_all());
        }
    }
    drop(pool);
    drop(unmapped);
}

/// The `kithara-trim` thread: unmaps each mapping [`KEEP_FOR`] after it was
/// parked, and ends once the pool is empty.
fn trim() {
    loop {
        let mut pool = POOL.lock();
        let now = Instant::now();
        let (stale, next) = pool.expire(now);
        if next.is_none() {
            // Under the lock: a park after this starts a new thread.
            pool.trimming = false;
        }
        drop(pool);
        drop(stale);
        match next {
            Some(due) => thread::sleep(due.saturating_duration_since(now)),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    /// A small mapping of `len` bytes that claims `touched` of them.
    fn parked(len: usize, touched: usize) -> Parked {
        Parked {
            map: MmapMut::map_anon(len).unwrap(),
            touched,
        }
    }

    fn touched(list: &[Parked]) -> Vec<usize> {
        list.iter().map(|p| p.touched).collect()
    }

    #[test]
    fn take_gives_the_newest_of_exactly_that_size() {
        let mut pool = Pool::new();
        let now = Instant::now();
        assert!(pool.put(parked(4096, 1), now).is_empty());
        assert!(pool.put(parked(8192, 2), now).is_empty());
        assert!(pool.put(parked(4096, 3), now).is_empty());
        assert!(pool.take(12288).is_none());
        assert_eq!(pool.take(4096).map(|p| p.touched), Some(3));
        assert_eq!(pool.take(4096).map(|p| p.touched), Some(1));
        assert!(pool.take(4096).is_none());
        assert_eq!(pool.cost(), 2 * MIB, "one huge page for the 8 KiB one");
    }

    #[test]
    fn the_bound_holds_in_huge_pages_and_the_oldest_make_room() {
        let mut pool = Pool::new();
        let now = Instant::now();
        // 1 byte counts as a huge page: 32 fill the bound.
        for i in 0..32 {
            assert!(pool.put(parked(4096, 1 + i), now).is_empty(), "{i}");
        }
        assert_eq!(pool.cost(), KEEP_BYTES);
        assert_eq!(touched(&pool.put(parked(4096, 100), now)), [1]);
        // 5 MiB is three huge pages: the three oldest go.
        assert_eq!(touched(&pool.put(parked(4096, 5 * MIB), now)), [2, 3, 4]);
        assert_eq!(pool.cost(), KEEP_BYTES);
        // Over the bound alone: refused, nothing evicted.
        let over = KEEP_BYTES + 1;
        assert_eq!(touched(&pool.put(parked(4096, over), now)), [over]);
        assert_eq!(pool.entries.len(), 30);
        // Exactly the bound: kept, everything else goes.
        assert_eq!(pool.put(parked(4096, KEEP_BYTES), now).len(), 30);
        assert_eq!((pool.entries.len(), pool.cost()), (1, KEEP_BYTES));
        assert_eq!(touched(&pool.take_all()), [KEEP_BYTES]);
        assert_eq!(pool.cost(), 0);
    }

    #[test]
    fn a_take_frees_its_share_of_the_bound() {
        let mut pool = Pool::new();
        let now = Instant::now();
        assert!(pool.put(parked(4096, 40 * MIB), now).is_empty());
        assert!(pool.take(4096).is_some());
        assert_eq!(pool.cost(), 0);
        assert!(pool.put(parked(4096, 40 * MIB), now).is_empty());
        assert!(pool.put(parked(4096, 24 * MIB), now).is_empty());
    }

    #[test]
    fn entries_expire_keep_for_after_they_were_parked() {
        let mut pool = Pool::new();
        let t0 = Instant::now();
        let half = KEEP_FOR / 2;
        assert!(pool.put(parked(4096, 1), t0).is_empty());
        assert!(pool.put(parked(4096, 2), t0 + half).is_empty());
        let (stale, next) = pool.expire(t0 + KEEP_FOR - Duration::from_millis(1));
        assert!(stale.is_empty());
        assert_eq!(next, Some(t0 + KEEP_FOR));
        let (stale, next) = pool.expire(t0 + KEEP_FOR);
        assert_eq!(touched(&stale), [1]);
        assert_eq!(next, Some(t0 + half + KEEP_FOR));
        let (stale, next) = pool.expire(t0 + 2 * KEEP_FOR);
        assert_eq!(touched(&stale), [2]);
        assert_eq!((next, pool.cost()), (None, 0));
    }
}
