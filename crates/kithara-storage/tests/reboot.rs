//! After a reboot the live region describes a page cache that is gone: only
//! the durable record counts. The reboot is simulated with the boot-id test
//! hook, which is process-wide: hence one test, alone in its binary.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kithara_storage::{test_hooks, OpenMode, ResourceExt};
use tempfile::TempDir;

#[test]
#[ignore = "run by the test of this file in a child process"]
fn writer_child() {
    common::writer_child();
}

#[test]
fn after_a_reboot_only_the_record_counts() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("dl.bin");
    let mut child = Child::spawn(
        "writer_child",
        &[("KITHARA_TEST_PATH", path.to_str().unwrap())],
    );
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    child.run("write 0 5000");
    child.run("flush");
    child.run("write 5000 5000");
    child.run("write 20000 100");
    child.kill();

    // The same boot: the region adds what came after the checkpoint.
    let same_boot = persisted(&path, OpenMode::ReadOnly);
    assert_eq!(same_boot.ranges(), vec![0..10_000, 20_000..20_100]);
    drop(same_boot);

    test_hooks::set_boot_id(Some(0x5eed));
    let follower = persisted(&path, OpenMode::ReadOnly);
    assert_eq!(follower.ranges(), vec![0..5000]);
    let res = persisted(&path, OpenMode::ReadWrite);
    assert!(!res.is_follower());
    assert_eq!(res.ranges(), vec![0..5000]);
    let mut buf = vec![0; 5000];
    assert_eq!(res.read_at(0, &mut buf).unwrap(), 5000);
    assert!(buf == pattern(0..5000));
    // The follower opened in the "new boot" follows the new writer.
    res.write_at(5000, &pattern(5000..6000)).unwrap();
    assert_eq!(follower.ranges(), vec![0..6000]);

    // With no flush and no close, the periodic checkpoint (due every 16 MiB
    // written) records: once it has replaced the record, a reboot keeps
    // what it recorded.
    let big = dir.path().join("big.bin");
    let mut child = Child::spawn(
        "writer_child",
        &[("KITHARA_TEST_PATH", big.to_str().unwrap())],
    );
    assert_eq!(child.expect("OPEN"), "OPEN writer");
    let record = dir.path().join("big.bin.ranges");
    let before = std::fs::read(&record).unwrap();
    const LEN: u64 = 17 << 20;
    child.run(&format!("write 0 {LEN}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read(&record).unwrap() == before {
        assert!(
            Instant::now() < deadline,
            "no periodic checkpoint replaced the record"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill();
    let res = persisted(&big, OpenMode::ReadWrite);
    assert_eq!(res.ranges(), vec![0..LEN]);
    test_hooks::set_boot_id(None);
}
