//! `kill -9` in the middle of a rewrite of a committed file with persisted
//! ranges: the reopen finds the committed version, whole, as its record says,
//! never a length that includes bytes nobody wrote.

mod common;

use std::{fs, path::Path, thread};

use common::persisted;
use kithara_storage::{OpenMode, Recovery, ResourceExt, ResourceStatus};
use tempfile::TempDir;

const N: usize = 1 << 20;

#[test]
fn a_readwrite_write_to_a_committed_file_killed_midway_reopens_committed_as_it_was() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.bin");
    let res = persisted(&path, OpenMode::Auto);
    res.write_at(0, &vec![1u8; N]).unwrap();
    res.commit(None).unwrap();
    res.close();

    common::run_child_killed(
        "grow_committed_then_die_child",
        ("KITHARA_CRASH_PATH", &path),
        "GROWN",
    );

    let res = persisted(&path, OpenMode::ReadWrite);
    assert_eq!(res.recovery(), Recovery::None);
    assert_eq!(
        res.status(),
        ResourceStatus::Committed {
            final_len: Some(N as u64)
        }
    );
    let mut all = Vec::new();
    res.read_into(&mut all).unwrap();
    assert!(all == vec![1u8; N], "the committed bytes changed");
    assert_eq!(fs::metadata(&path).unwrap().len(), N as u64);
}

#[test]
#[ignore = "run by a_readwrite_write_to_a_committed_file_killed_midway_reopens_committed_as_it_was, and killed"]
fn grow_committed_then_die_child() {
    let Some(path) = std::env::var_os("KITHARA_CRASH_PATH") else {
        return;
    };
    let res = persisted(Path::new(&path), OpenMode::ReadWrite);
    // A write to the committed file reactivates it and grows it ...
    res.write_at(N as u64, &vec![2u8; N]).unwrap();
    res.write_at(0, &[2u8; 4096]).unwrap();
    // ... and a checkpoint records what the path now holds.
    res.flush().unwrap();
    println!("GROWN");
    loop {
        thread::park();
    }
}
