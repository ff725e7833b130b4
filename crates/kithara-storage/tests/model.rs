//! Model-based test: random operation sequences against a plain reference
//! model (a byte vector, a written-bytes map, a lifecycle, the committed
//! generation a rewrite keeps serving), on both backends, and on a file with
//! persisted ranges that is closed or dropped and reopened from its record.

use std::time::Duration;

use kithara_storage::{
    CancellationToken, MemOptions, MmapOptions, Recovery, Resource, ResourceExt, ResourceStatus,
    StorageError, StorageResource, StorageResult, WaitOutcome,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Write(u64, u8, u8),
    Read(u64, u8),
    Commit(Option<u64>),
    Fail,
    Reactivate,
    Close,
    Contains(u64, u64),
    NextGap(u64, u64),
    Wait(u64, u64),
    /// Close (`true`) or drop the resource and open the file again.
    Reopen(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..200, 0u8..40, any::<u8>()).prop_map(|(o, n, b)| Op::Write(o, n, b)),
        3 => (0u64..220, 0u8..60).prop_map(|(o, n)| Op::Read(o, n)),
        1 => proptest::option::of(0u64..220).prop_map(Op::Commit),
        1 => Just(Op::Fail),
        2 => Just(Op::Reactivate),
        1 => (0u64..30).prop_filter_map("rare close", |x| (x == 0).then_some(Op::Close)),
        2 => (0u64..220, 0u64..220).prop_map(|(a, b)| Op::Contains(a, b)),
        2 => (0u64..220, 0u64..240).prop_map(|(a, b)| Op::NextGap(a, b)),
        3 => (0u64..220, 0u64..220).prop_map(|(a, b)| Op::Wait(a, b)),
    ]
}

/// `op()` plus reopening from the record.
fn op_with_reopen() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => op(),
        1 => any::<bool>().prop_map(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    bytes: Vec<u8>,
    written: Vec<bool>,
    final_len: Option<u64>,
    failed: bool,
    closed: bool,
    /// After `reactivate` of a committed resource: the committed bytes,
    /// which readers get below their length until the next commit.
    base: Option<Vec<u8>>,
}

/// The error kinds compared between model and resource.
#[derive(Debug, PartialEq)]
enum Kind {
    Closed,
    Failed,
    Committed,
    InvalidRange,
    Timeout,
}

fn kind(e: &StorageError) -> Kind {
    match e {
        StorageError::Closed => Kind::Closed,
        StorageError::Failed(_) => Kind::Failed,
        StorageError::Committed => Kind::Committed,
        StorageError::InvalidRange { .. } => Kind::InvalidRange,
        StorageError::Timeout => Kind::Timeout,
        other => panic!("unexpected error {other:?}"),
    }
}

impl Model {
    fn high_water(&self) -> u64 {
        self.written
            .iter()
            .rposition(|&w| w)
            .map_or(0, |i| i as u64 + 1)
    }
    fn covered(&self, a: u64, b: u64) -> bool {
        (a..b).all(|i| self.written.get(i as usize).copied().unwrap_or(false))
    }
    fn health(&self) -> Result<(), Kind> {
        if self.closed {
            Err(Kind::Closed)
        } else if self.failed {
            Err(Kind::Failed)
        } else {
            Ok(())
        }
    }
    fn resize(&mut self, len: usize) {
        self.bytes.resize(len, 0);
        self.written.resize(len, false);
    }
    fn write(&mut self, off: u64, data: &[u8]) -> Result<(), Kind> {
        self.health()?;
        if self.final_len.is_some() {
            return Err(Kind::Committed);
        }
        let end = off as usize + data.len();
        if !data.is_empty() {
            if end > self.bytes.len() {
                self.resize(end);
            }
            self.bytes[off as usize..end].copy_from_slice(data);
            self.written[off as usize..end].fill(true);
        }
        Ok(())
    }
    fn read(&self, off: u64, n: usize) -> Result<Vec<u8>, Kind> {
        self.health()?;
        let hw = self.high_water();
        if off >= hw {
            return Ok(Vec::new());
        }
        let end = (off + n as u64).min(hw) as usize;
        match &self.base {
            // One generation per read: the committed bytes, up to their end.
            Some(base) if (off as usize) < base.len() => {
                Ok(base[off as usize..end.min(base.len())].to_vec())
            }
            _ => Ok(self.bytes[off as usize..end].to_vec()),
        }
    }
    fn reactivate(&mut self) {
        if let Some(len) = self.final_len {
            self.base = Some(self.bytes[..len as usize].to_vec());
        }
        self.failed = false;
        self.final_len = None;
    }
    /// What a reopen from the record finds: the committed generation if a
    /// rewrite was not committed, else the ranges as they were.
    fn reopen(&mut self) {
        if let Some(base) = self.base.take() {
            self.final_len = Some(base.len() as u64);
            self.written = vec![true; base.len()];
            self.bytes = base;
        }
        self.failed = false;
        self.closed = false;
    }
    fn commit(&mut self, len: Option<u64>) -> Result<(), Kind> {
        self.health()?;
        let len = len.unwrap_or_else(|| self.high_water()) as usize;
        self.resize(len);
        self.written.fill(true);
        self.final_len = Some(len as u64);
        self.base = None;
        Ok(())
    }
    fn wait(&self, a: u64, b: u64) -> Result<WaitOutcome, Kind> {
        if self.closed {
            return Err(Kind::Closed);
        }
        if a > b {
            return Err(Kind::InvalidRange);
        }
        if a == b {
            return Ok(WaitOutcome::Ready);
        }
        self.health()?;
        if self.covered(a, b) {
            return Ok(WaitOutcome::Ready);
        }
        match self.final_len {
            Some(len) if a >= len => Ok(WaitOutcome::Eof),
            Some(_) => Ok(WaitOutcome::Ready),
            None => Err(Kind::Timeout),
        }
    }
    fn next_gap(&self, from: u64, limit: u64) -> Option<(u64, u64)> {
        let upper = self.final_len.map_or(limit, |l| l.min(limit));
        let start = (from..upper).find(|&i| !self.covered(i, i + 1))?;
        let end = (start..upper)
            .find(|&i| self.covered(i, i + 1))
            .unwrap_or(upper);
        Some((start, end))
    }
}

/// A 1 ms timed wait, on another thread and bounded: a timeout that never
/// ends the wait fails the sequence instead of hanging the test.
fn bounded_wait(res: &StorageResource, range: std::ops::Range<u64>) -> StorageResult<WaitOutcome> {
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = res.clone();
    let asked = range.clone();
    std::thread::spawn(move || {
        let got = waiter.wait_range_timeout(asked, Duration::from_millis(1));
        // Gone before the answer: a reopen right after must find no handle
        // (and no writer's lock) of this one left.
        drop(waiter);
        let _ = tx.send(got);
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| {
            // Not a panic: proptest would shrink it, 10 s per attempt. A wait
            // that never ends is a broken build; stop the test binary now.
            eprintln!("a 1 ms timed wait never ended (range {range:?})");
            std::process::abort()
        })
}

fn run(mut res: StorageResource, ops: &[Op], reopen: Option<&dyn Fn() -> StorageResource>) {
    let mut m = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match *op {
            Op::Write(off, n, byte) => {
                let data = vec![byte; n as usize];
                assert_eq!(
                    res.write_at(off, &data).map_err(|e| kind(&e)),
                    m.write(off, &data),
                    "{ctx}"
                );
            }
            Op::Read(off, n) => {
                let mut buf = vec![0xEE; n as usize];
                let got = res.read_at(off, &mut buf).map(|k| buf[..k].to_vec());
                assert_eq!(got.map_err(|e| kind(&e)), m.read(off, n as usize), "{ctx}");
            }
            Op::Commit(len) => {
                assert_eq!(
                    res.commit(len).map_err(|e| kind(&e)),
                    m.commit(len),
                    "{ctx}"
                );
            }
            Op::Fail => {
                res.fail("model".into());
                if !m.closed {
                    m.failed = true;
                }
            }
            Op::Reactivate => {
                let expected = if m.closed {
                    Err(Kind::Closed)
                } else {
                    m.reactivate();
                    Ok(())
                };
                assert_eq!(res.reactivate().map_err(|e| kind(&e)), expected, "{ctx}");
            }
            Op::Close => {
                res.close();
                m.closed = true;
            }
            Op::Contains(a, b) => {
                let expected = a >= b || m.covered(a, b);
                assert_eq!(res.contains_range(a..b), expected, "{ctx}");
            }
            Op::NextGap(a, b) => {
                let got = res.next_gap(a, b).map(|r| (r.start, r.end));
                assert_eq!(got, m.next_gap(a, b), "{ctx}");
            }
            Op::Wait(a, b) => {
                let got = bounded_wait(&res, a..b);
                assert_eq!(got.map_err(|e| kind(&e)), m.wait(a, b), "{ctx}");
            }
            Op::Reopen(close) => {
                let Some(reopen) = reopen else { continue };
                if close {
                    res.close();
                }
                drop(res);
                res = reopen();
                m.reopen();
                assert_eq!(res.recovery(), Recovery::None, "{ctx}");
            }
        }
        if !m.closed {
            let expected = if m.failed {
                ResourceStatus::Failed("model".into())
            } else if let Some(len) = m.final_len {
                ResourceStatus::Committed {
                    final_len: Some(len),
                }
            } else {
                ResourceStatus::Active
            };
            assert_eq!(res.status(), expected, "{ctx}");
            assert_eq!(res.len(), m.final_len, "{ctx}");
        } else {
            assert_eq!(res.status(), ResourceStatus::Closed, "{ctx}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let res: StorageResource =
            Resource::<kithara_storage::MemDriver>::open(CancellationToken::new(), MemOptions::default())
                .unwrap()
                .into();
        run(res, &ops, None);
    }

    #[test]
    fn mmap_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::TempDir::new().unwrap();
        let mut o = MmapOptions::new(dir.path().join("m.bin"));
        o.initial_len = Some(64);
        let res: StorageResource =
            Resource::<kithara_storage::MmapDriver>::open(CancellationToken::new(), o).unwrap().into();
        run(res, &ops, None);
    }

    #[test]
    fn a_reopened_file_matches_the_model(ops in proptest::collection::vec(op_with_reopen(), 1..40)) {
        let dir = tempfile::TempDir::new().unwrap();
        let mut o = MmapOptions::new(dir.path().join("m.bin"));
        o.initial_len = Some(64);
        o.persist_ranges = true;
        let open = move || -> StorageResource {
            Resource::<kithara_storage::MmapDriver>::open(CancellationToken::new(), o.clone())
                .unwrap()
                .into()
        };
        run(open(), &ops, Some(&open));
    }
}
