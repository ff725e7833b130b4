//! Range waits: outcomes, every event that wakes them, per-wait timeouts and
//! tokens, the non-blocking hook, and concurrency on real threads.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use common::*;
use kithara_storage::{
    CancellationToken, MemOptions, MemResource, Resource, ResourceExt, StorageError, WaitOptions,
    WaitOutcome, WaitRegistration,
};
use tempfile::TempDir;

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn decided_at_once_ready_eof_empty_and_invalid() {
    let res = mem();
    res.write_at(0, b"data").unwrap();
    assert_eq!(wait(&res, 0..4).unwrap(), WaitOutcome::Ready);
    assert_eq!(wait(&res, 7..7).unwrap(), WaitOutcome::Ready);
    assert!(matches!(
        wait(&res, 5..4),
        Err(StorageError::InvalidRange { start: 5, end: 4 })
    ));
    res.commit(Some(4)).unwrap();
    assert_eq!(wait(&res, 4..10).unwrap(), WaitOutcome::Eof);
    // A committed range is clamped to the final length.
    assert_eq!(wait(&res, 2..10).unwrap(), WaitOutcome::Ready);
}

#[test]
fn a_write_wakes_a_blocked_reader() {
    let dir = TempDir::new().unwrap();
    let res = mmap_at(&dir.path().join("w.bin"));
    let rx = spawn_wait(&res, 0..12);
    until_pending(|| res.pending_waiters(), 1);
    res.write_at(0, b"delayed data").unwrap();
    assert_eq!(
        rx.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn partial_coverage_never_satisfies_a_wait() {
    let res = mem();
    let rx = spawn_wait(&res, 0..100);
    until_pending(|| res.pending_waiters(), 1);
    res.write_at(0, &[1; 50]).unwrap();
    res.write_at(51, &[1; 49]).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    assert_eq!(res.pending_waiters(), 1);
    // The last missing byte, written backwards, completes it.
    res.write_at(50, &[1]).unwrap();
    assert_eq!(
        rx.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn a_write_wakes_only_the_waiters_it_satisfies() {
    let res = mem();
    let a = spawn_wait(&res, 0..10);
    let b = spawn_wait(&res, 100..110);
    until_pending(|| res.pending_waiters(), 2);
    res.write_at(0, &[0; 10]).unwrap();
    assert_eq!(a.recv_timeout(PROMPT).unwrap().unwrap(), WaitOutcome::Ready);
    assert_eq!(res.pending_waiters(), 1);
    assert!(b.try_recv().is_err());
    res.write_at(100, &[0; 10]).unwrap();
    assert_eq!(b.recv_timeout(PROMPT).unwrap().unwrap(), WaitOutcome::Ready);
}

#[test]
fn commit_wakes_waiters_with_ready_or_eof() {
    let res = mem();
    res.write_at(0, &[1; 10]).unwrap();
    let inside = spawn_wait(&res, 5..20);
    let past = spawn_wait(&res, 10..20);
    until_pending(|| res.pending_waiters(), 2);
    res.commit(None).unwrap();
    assert_eq!(
        inside.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
    assert_eq!(
        past.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Eof
    );
}

#[test]
fn fail_wakes_waiters_with_the_reason() {
    let res = mem();
    let rx = spawn_wait(&res, 0..100);
    until_pending(|| res.pending_waiters(), 1);
    res.fail("network down".into());
    let err = rx.recv_timeout(PROMPT).unwrap().unwrap_err();
    assert!(matches!(err, StorageError::Failed(r) if r == "network down"));
}

#[test]
fn cancelling_the_token_wakes_blocked_waiters_at_once() {
    let dir = TempDir::new().unwrap();
    let token = CancellationToken::new();
    let mut opts = kithara_storage::MmapOptions::new(dir.path().join("c.bin"));
    opts.initial_len = None;
    let res: kithara_storage::MmapResource = Resource::open(token.clone(), opts).unwrap();
    let waits: Vec<_> = (0..4)
        .map(|i| spawn_wait(&res, i * 10..i * 10 + 5))
        .collect();
    until_pending(|| res.pending_waiters(), 4);
    token.cancel();
    for rx in waits {
        let err = rx.recv_timeout(PROMPT).unwrap().unwrap_err();
        assert!(matches!(err, StorageError::Cancelled));
    }
    assert_eq!(res.pending_waiters(), 0);
}

/// How many sequential round trips the event-vs-poll tests make: woken by
/// events they take well under a second; a 50 ms poll (the seed's design)
/// needs at least 2,000 × 25 ms on average, far past [`TRIPS_BOUND`].
const TRIPS: u64 = 2_000;
/// Generous: 100x what the event-driven waits need on a loaded machine.
const TRIPS_BOUND: Duration = Duration::from_secs(20);

/// Waits on `res` until the deadline; panics with how far the trips got.
fn wait_until_deadline<R: ResourceExt>(
    res: &R,
    range: std::ops::Range<u64>,
    deadline: Instant,
    trip: u64,
) -> WaitOutcome {
    let left = deadline.saturating_duration_since(Instant::now());
    match res.wait_range_timeout(range, left) {
        Ok(outcome) => outcome,
        Err(StorageError::Timeout) => panic!(
            "only {trip} of {TRIPS} round trips within {TRIPS_BOUND:?}: a wait is not woken by \
             the event that decides it (a poll?)"
        ),
        Err(e) => panic!("trip {trip}: {e:?}"),
    }
}

#[test]
fn two_thousand_cancels_each_wake_their_blocked_waiter_at_once() {
    // One waiter thread; each trip a new resource whose token the test
    // cancels once the waiter is provably blocked on it. Only the cancel can
    // decide the wait.
    let (resources, jobs) = mpsc::channel::<(MemResource, mpsc::Sender<StorageError>)>();
    let waiter = thread::spawn(move || {
        for (res, tx) in jobs {
            let err = res.wait_range_timeout(0..1, BOUND).unwrap_err();
            let _ = tx.send(err);
        }
    });
    let deadline = Instant::now() + TRIPS_BOUND;
    for trip in 0..TRIPS {
        let token = CancellationToken::new();
        let res: MemResource = Resource::open(token.clone(), MemOptions::default()).unwrap();
        let (tx, rx) = mpsc::channel();
        resources.send((res.clone(), tx)).unwrap();
        until_pending(|| res.pending_waiters(), 1);
        token.cancel();
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(StorageError::Cancelled) => {}
            Ok(other) => panic!("trip {trip}: {other:?}"),
            Err(_) => panic!(
                "only {trip} of {TRIPS} cancels woke their waiter within {TRIPS_BOUND:?} (a poll?)"
            ),
        }
    }
    drop(resources);
    join_bounded(waiter);
}

#[test]
fn two_thousand_wait_write_round_trips_are_woken_not_polled() {
    // Two resources, two threads: this one writes byte k of `a` once the
    // other waits for it, then waits for byte k of `b`, which the other
    // writes once it is woken (and once this one waits). Nothing but these
    // writes happens: no interrupt, no commit; each wait is pending before
    // the write that decides it, so only that write's wake-up can end it.
    let a = mem();
    let b = mem();
    let deadline = Instant::now() + TRIPS_BOUND;
    let pong = {
        let (a, b) = (a.clone(), b.clone());
        thread::spawn(move || {
            for k in 0..TRIPS {
                let outcome = wait_until_deadline(&a, k..k + 1, deadline, k);
                assert_eq!(outcome, WaitOutcome::Ready);
                until_pending(|| b.pending_waiters(), 1);
                b.write_at(k, &[1]).unwrap();
            }
        })
    };
    for k in 0..TRIPS {
        until_pending(|| a.pending_waiters(), 1);
        a.write_at(k, &[1]).unwrap();
        assert_eq!(
            wait_until_deadline(&b, k..k + 1, deadline, k),
            WaitOutcome::Ready
        );
    }
    join_bounded(pong);
    assert_eq!(a.status(), kithara_storage::ResourceStatus::Active);
    assert_eq!(b.ranges(), vec![0..TRIPS]);
}

#[test]
fn cancelling_a_parent_token_cancels_the_resource() {
    let parent = CancellationToken::new();
    let res: MemResource = Resource::open(parent.child_token(), MemOptions::default()).unwrap();
    let rx = spawn_wait(&res, 0..1);
    until_pending(|| res.pending_waiters(), 1);
    parent.cancel();
    assert!(matches!(
        rx.recv_timeout(PROMPT).unwrap(),
        Err(StorageError::Cancelled)
    ));
}

#[test]
fn interrupt_wakes_current_waiters_only() {
    let res = mem();
    let rx = spawn_wait(&res, 0..10);
    until_pending(|| res.pending_waiters(), 1);
    res.interrupt();
    assert_eq!(
        rx.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Interrupted
    );
    // A later wait is unaffected by the earlier interrupt.
    let later = spawn_wait(&res, 0..10);
    until_pending(|| res.pending_waiters(), 1);
    res.write_at(0, &[0; 10]).unwrap();
    assert_eq!(
        later.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn close_wakes_waiters_with_closed() {
    let dir = TempDir::new().unwrap();
    let res = mmap_at(&dir.path().join("close.bin"));
    let rx = spawn_wait(&res, 0..10);
    until_pending(|| res.pending_waiters(), 1);
    res.close();
    assert!(matches!(
        rx.recv_timeout(PROMPT).unwrap(),
        Err(StorageError::Closed)
    ));
}

#[test]
fn timeout_ends_only_that_wait() {
    let res = mem();
    let r = res.clone();
    let err = bounded("a wait of 20 ms", move || {
        r.wait_range_timeout(0..10, Duration::from_millis(20))
    })
    .unwrap_err();
    assert!(matches!(err, StorageError::Timeout));
    assert_eq!(res.pending_waiters(), 0);
    assert_eq!(res.status(), kithara_storage::ResourceStatus::Active);
    res.write_at(0, &[0; 10]).unwrap();
    assert_eq!(
        res.wait_range_timeout(0..10, Duration::from_millis(20))
            .unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn a_timed_wait_waits_for_the_write_that_decides_it() {
    // A timeout is an upper bound, not the wait: a write before it decides
    // the wait `Ready`, and the wait was pending until then.
    let res = mem();
    let rx = spawn_wait(&res, 0..10);
    until_pending(|| res.pending_waiters(), 1);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(res.pending_waiters(), 1, "the timed wait ended on its own");
    res.write_at(0, &[0; 10]).unwrap();
    assert_eq!(
        rx.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn handles_and_futures_say_what_they_wait_for() {
    let res = mem();
    let reg = res.register_waiter(5..9, Box::new(|_| {}));
    let WaitRegistration::Pending(handle) = reg else {
        panic!("nothing written yet")
    };
    let shown = format!("{handle:?}");
    assert!(
        shown.contains("WaitHandle") && shown.contains("start: 5"),
        "{shown}"
    );
    assert!(handle.cancel());
    let pending = res.wait_range_future(0..3);
    assert_eq!(format!("{pending:?}"), "WaitFuture { pending: true }");
    res.write_at(0, b"abc").unwrap();
    let decided = res.wait_range_future(0..3);
    assert_eq!(format!("{decided:?}"), "WaitFuture { pending: false }");
}

#[test]
fn a_wait_future_hands_out_its_handle_while_pending() {
    let res = mem();
    let fut = res.wait_range_future(0..3);
    let handle = fut.handle().expect("a pending future has a handle");
    assert_eq!(res.pending_waiters(), 1);
    // The handle withdraws the future's wait.
    assert!(handle.cancel());
    assert_eq!(res.pending_waiters(), 0);
    assert!(!handle.cancel());
    // Decided at once: nothing to withdraw.
    res.write_at(0, b"abc").unwrap();
    assert!(res.wait_range_future(0..3).handle().is_none());
}

#[test]
fn per_wait_token_cancels_only_that_wait() {
    let res = mem();
    let wait_token = CancellationToken::new();
    let (tx, rx) = mpsc::channel();
    let r = res.clone();
    let t = wait_token.clone();
    thread::spawn(move || tx.send(r.wait_range_with_cancel(0..10, &t)).unwrap());
    let other = spawn_wait(&res, 0..10);
    until_pending(|| res.pending_waiters(), 2);
    wait_token.cancel();
    assert!(matches!(
        rx.recv_timeout(PROMPT).unwrap(),
        Err(StorageError::Cancelled)
    ));
    assert_eq!(res.status(), kithara_storage::ResourceStatus::Active);
    assert_eq!(res.pending_waiters(), 1);
    res.write_at(0, &[0; 10]).unwrap();
    assert_eq!(
        other.recv_timeout(PROMPT).unwrap().unwrap(),
        WaitOutcome::Ready
    );
    // An already-cancelled per-wait token ends the wait at once.
    let opts = {
        let mut o = WaitOptions::new();
        o.cancel = Some(wait_token);
        o
    };
    assert!(matches!(
        res.wait_range_with(20..30, &opts),
        Err(StorageError::Cancelled)
    ));
}

#[test]
fn register_waiter_calls_back_from_the_writing_thread_once() {
    let res = mem();
    let hits = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let h = Arc::clone(&hits);
    let reg = res.register_waiter(
        0..4,
        Box::new(move |r| {
            h.fetch_add(1, Ordering::SeqCst);
            tx.send((thread::current().id(), r)).unwrap();
        }),
    );
    let WaitRegistration::Pending(handle) = reg else {
        panic!("should be pending")
    };
    let writer = res.clone();
    let writer_id = thread::spawn(move || {
        writer.write_at(0, b"abcd").unwrap();
        thread::current().id()
    })
    .join()
    .unwrap();
    let (called_on, result) = rx.recv_timeout(PROMPT).unwrap();
    assert_eq!(called_on, writer_id);
    assert_eq!(result.unwrap(), WaitOutcome::Ready);
    assert!(!handle.cancel(), "already decided");
    res.commit(None).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Decided at once: the callback is dropped, not called.
    let reg = res.register_waiter(0..1, Box::new(|_| panic!("not called")));
    assert!(matches!(
        reg,
        WaitRegistration::Decided(Ok(WaitOutcome::Ready))
    ));
}

#[test]
fn a_cancelled_handle_is_never_called() {
    let res = mem();
    let reg = res.register_waiter(0..4, Box::new(|_| panic!("withdrawn waiter was called")));
    let WaitRegistration::Pending(handle) = reg else {
        panic!()
    };
    assert!(handle.cancel());
    assert!(!handle.cancel());
    res.write_at(0, b"abcd").unwrap();
    res.close();
}

#[test]
fn wait_future_resolves_on_write_without_a_runtime() {
    use std::{
        future::Future,
        pin::pin,
        task::{Context, Poll, Wake, Waker},
    };
    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let res = mem();
    let flag = Arc::new(Flag(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(res.wait_range_future(0..3));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    res.write_at(0, b"abc").unwrap();
    assert_eq!(flag.0.load(Ordering::SeqCst), 1);
    assert!(matches!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready(Ok(WaitOutcome::Ready))
    ));
    // Dropping a pending future withdraws its waiter.
    {
        let mut f = pin!(res.wait_range_future(10..20));
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert_eq!(res.pending_waiters(), 1);
    }
    assert_eq!(res.pending_waiters(), 0);
}

#[test]
fn fast_path_answers_without_the_lock_and_respects_failure() {
    let res = mem();
    res.write_at(0, &[1; 4096]).unwrap();
    assert!(res.contains_range(0..4096));
    assert_eq!(wait(&res, 100..200).unwrap(), WaitOutcome::Ready);
    res.fail("x".into());
    // The prefix is still written, but a failed resource must not say Ready.
    assert!(wait(&res, 100..200).is_err());
}

#[test]
fn many_readers_and_writers_on_real_threads_see_every_byte() {
    const PIECE: u64 = 4096;
    const PIECES: u64 = 256;
    let dir = TempDir::new().unwrap();
    let res = mmap_at(&dir.path().join("stress.bin"));
    let pattern = |i: u64| (i.wrapping_mul(31) % 251) as u8;
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let res = res.clone();
            thread::spawn(move || {
                // Each reader walks the file in its own order.
                for k in 0..PIECES {
                    let i = (k * (2 * r + 1) + r) % PIECES;
                    let range = i * PIECE..(i + 1) * PIECE;
                    assert_eq!(wait(&res, range.clone()).unwrap(), WaitOutcome::Ready);
                    let mut buf = vec![0u8; PIECE as usize];
                    assert_eq!(res.read_at(range.start, &mut buf).unwrap(), PIECE as usize);
                    assert!(buf.iter().all(|&b| b == pattern(i)), "piece {i}");
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let res = res.clone();
            thread::spawn(move || {
                // Writer 0 goes backwards over the even pieces, writer 1 forwards over the odd.
                let mine: Vec<u64> = (0..PIECES).filter(|i| i % 2 == w).collect();
                let order: Vec<u64> = if w == 0 {
                    mine.into_iter().rev().collect()
                } else {
                    mine
                };
                for i in order {
                    res.write_at(i * PIECE, &vec![pattern(i); PIECE as usize])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in writers {
        join_bounded(t);
    }
    for t in readers {
        join_bounded(t);
    }
    res.commit(None).unwrap();
    assert_eq!(res.len(), Some(PIECE * PIECES));
}

#[test]
fn ten_thousand_pending_waiters_resolve_with_one_write() {
    let res = mem();
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..10_000u64 {
        let d = Arc::clone(&done);
        let reg = res.register_waiter(
            i % 100..i % 100 + 1,
            Box::new(move |r| {
                assert_eq!(r.unwrap(), WaitOutcome::Ready);
                d.fetch_add(1, Ordering::SeqCst);
            }),
        );
        match reg {
            WaitRegistration::Pending(h) => handles.push(h),
            WaitRegistration::Decided(_) => panic!("nothing written yet"),
        }
    }
    assert_eq!(res.pending_waiters(), 10_000);
    res.write_at(0, &[0; 100]).unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 10_000);
    assert_eq!(res.pending_waiters(), 0);
}

#[test]
fn dropping_the_last_handle_fails_pending_waiters_instead_of_hanging() {
    let res = mem();
    let (tx, rx) = mpsc::channel();
    let reg = res.register_waiter(0..1, Box::new(move |r| tx.send(r).unwrap()));
    assert!(matches!(reg, WaitRegistration::Pending(_)));
    drop(res);
    assert!(matches!(
        rx.recv_timeout(PROMPT).unwrap(),
        Err(StorageError::Closed)
    ));
}

/// The gate of a [`HeldWrite`]: armed with (entered, release) channels.
type Gate = Arc<parking_lot::Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>>;

/// A memory driver whose next write, once its gate is armed, stops inside
/// the driver (where the resource holds its state lock) until released.
struct HeldWrite {
    inner: kithara_storage::MemDriver,
    gate: Gate,
}

impl kithara_storage::DriverIo for HeldWrite {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> kithara_storage::StorageResult<usize> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> kithara_storage::StorageResult<()> {
        let held = self.gate.lock().take();
        if let Some((entered, release)) = held {
            let _ = entered.send(());
            let _ = release.recv_timeout(2 * BOUND);
        }
        self.inner.write_at(offset, data)
    }
    fn commit(&self, final_len: u64) -> kithara_storage::StorageResult<()> {
        self.inner.commit(final_len)
    }
    fn reactivate(&self) -> kithara_storage::StorageResult<()> {
        self.inner.reactivate()
    }
    fn close(&self) {
        self.inner.close();
    }
    fn path(&self) -> Option<&std::path::Path> {
        None
    }
}

#[test]
fn readers_of_the_written_prefix_never_wait_for_a_write_in_progress() {
    use kithara_storage::Driver;
    let (inner, init) = kithara_storage::MemDriver::open(MemOptions::default()).unwrap();
    let gate = Gate::default();
    let driver = HeldWrite {
        inner,
        gate: Arc::clone(&gate),
    };
    let res = Resource::from_driver(CancellationToken::new(), driver, init, None);
    res.write_at(0, &[7; 100]).unwrap();
    // The next write stops in the driver, under the resource's state lock.
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    *gate.lock() = Some((entered_tx, release_rx));
    let writer = {
        let res = res.clone();
        thread::spawn(move || res.write_at(200, &[8; 100]))
    };
    entered
        .recv_timeout(PROMPT)
        .expect("the held write never started");
    // Readers of bytes inside the written prefix do not take that lock.
    let r = res.clone();
    let (contains, waited, read) =
        bounded("readers of the prefix during a held write", move || {
            let mut buf = [0u8; 100];
            (
                r.contains_range(0..100),
                r.wait_range_timeout(10..90, BOUND),
                r.read_at(0, &mut buf).map(|n| (n, buf[99])),
            )
        });
    assert!(contains);
    assert_eq!(waited.unwrap(), WaitOutcome::Ready);
    assert_eq!(read.unwrap(), (100, 7));
    release.send(()).unwrap();
    join_bounded(writer).unwrap();
    assert!(res.contains_range(200..300));
}
