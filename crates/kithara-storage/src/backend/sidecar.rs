#![forbid(unsafe_code)]
//! The `<path>.ranges` record of which byte ranges of a file are written.
//!
//! A small text file, replaced atomically (write a temp, fsync, rename) and
//! ending in a checksum line. It is only ever written after the data it
//! claims was flushed, and on load every range must lie inside the file, so a
//! torn, stale or foreign record is rejected rather than trusted.

use std::{
    fmt::Write as _,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use rangemap::RangeSet;

use crate::{error::IoContext, StorageResult};

const MAGIC: &str = "kithara-ranges 1";

/// What a record says about its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) available: RangeSet<u64>,
    pub(crate) final_len: Option<u64>,
}

/// `<path>.ranges`.
pub(crate) fn path_of(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_owned();
    name.push(".ranges");
    PathBuf::from(name)
}

/// FNV-1a, enough to tell a torn or edited record from a whole one.
fn checksum(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn render(ranges: &RangeSet<u64>, committed: Option<u64>) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{MAGIC}");
    match committed {
        Some(len) => {
            let _ = writeln!(text, "committed {len}");
        }
        None => text.push_str("active\n"),
    }
    for r in ranges.iter() {
        let _ = writeln!(text, "{} {}", r.start, r.end);
    }
    let sum = checksum(&text);
    let _ = writeln!(text, "sum {sum:016x}");
    text
}

fn parse(text: &str, file_len: u64) -> Option<Record> {
    let body_end = text.trim_end_matches('\n').rfind('\n')? + 1;
    let (body, tail) = text.split_at(body_end);
    let sum = tail.trim().strip_prefix("sum ")?;
    if u64::from_str_radix(sum, 16).ok()? != checksum(body) {
        return None;
    }
    let mut lines = body.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let final_len = match lines.next()? {
        "active" => None,
        line => Some(line.strip_prefix("committed ")?.parse::<u64>().ok()?),
    };
    if final_len.is_some_and(|len| len != file_len) {
        return None;
    }
    let mut available = RangeSet::new();
    for line in lines {
        let (a, b) = line.split_once(' ')?;
        let (start, end) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
        if start >= end || end > file_len {
            return None;
        }
        available.insert(start..end);
    }
    Some(Record {
        available,
        final_len,
    })
}

/// Reads the record of `data`, if there is a valid one for a file of `file_len` bytes.
pub(crate) fn load(data: &Path, file_len: u64) -> Option<Record> {
    let text = fs::read_to_string(path_of(data)).ok()?;
    parse(&text, file_len)
}

/// Replaces the record of `data` atomically and durably.
pub(crate) fn store(
    data: &Path,
    ranges: &RangeSet<u64>,
    committed: Option<u64>,
) -> StorageResult<()> {
    let target = path_of(data);
    let mut tmp_name = target.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = fs::File::create(&tmp).ctx("open", &tmp)?;
    file.write_all(render(ranges, committed).as_bytes())
        .ctx("write", &tmp)?;
    file.sync_data().ctx("fsync", &tmp)?;
    fs::rename(&tmp, &target).ctx("rename", &target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u64, u64)]) -> RangeSet<u64> {
        ranges.iter().map(|&(a, b)| a..b).collect()
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let ranges = set(&[(0, 10), (20, 30)]);
        let text = render(&ranges, None);
        assert_eq!(
            parse(&text, 100),
            Some(Record {
                available: ranges.clone(),
                final_len: None
            })
        );
        // A range past the end of the file is never trusted.
        assert_eq!(parse(&text, 25), None);
        // Torn or edited.
        assert_eq!(parse(&text[..text.len() - 3], 100), None);
        assert_eq!(parse(&text.replace("20 30", "20 31"), 100), None);
        assert_eq!(parse("", 100), None);
        let committed = render(&set(&[(0, 30)]), Some(30));
        assert_eq!(parse(&committed, 30).unwrap().final_len, Some(30));
        assert_eq!(parse(&committed, 31), None);
    }
}
