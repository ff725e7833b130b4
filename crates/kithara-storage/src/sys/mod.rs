//! Platform code: what the file driver and the range record need from the OS,
//! behind one small platform-neutral API (as memmap2 splits its `unix.rs` and
//! `windows.rs`). Nothing outside this module names a `cfg(unix)` or
//! `cfg(windows)` item.
//!
//! - disk blocks: [`punch_hole`] to give them back, [`data_ranges`] to learn
//!   which pages hold blocks, [`make_sparse`] for file systems where
//!   sparseness must be asked for (NTFS);
//! - positional I/O that reports errors cleanly: [`write_all_at`],
//!   [`read_at`], [`copy_range`];
//! - [`FileId`]: which file a handle or a path refers to;
//! - [`page_size`], and [`guarded`], the scoped SIGBUS guard around copies to
//!   and from a mapping;
//! - [`create_new`]: the exclusive, no-follow open used for temp files;
//!   [`open_regular`]: the open of an existing file that never blocks and
//!   refuses what is not a regular file on disk ([`check_regular`]);
//!   [`owner_and_links`], [`effective_uid`] and [`copy_owner_and_mode`] for
//!   the rules on files found in shared directories and on replaced files.
//! - [`try_lock`]: the one-writer lock of a data file, and [`boot_id`]:
//!   which boot of the machine this is (the live region is only trusted
//!   within one);
//! - [`wake`]: waking threads of other processes waiting on shared memory.

use std::{fs::File, io, ops::Range, path::Path, sync::OnceLock};

#[cfg(unix)]
mod sigbus;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;
pub(crate) mod wake;

pub(crate) use imp::{
    copy_owner_and_mode, create_new, data_ranges, effective_uid, errno_name, file_len, guarded,
    make_sparse, open_regular, owner_and_links, punch_hole, read_at, same_boot, sync_dir, try_lock,
    unlock, write_all_at, EEXIST, EIO, EISDIR, EMLINK, ENODEV, ENOENT,
};

use crate::error::refusal;

/// The size of a memory page, which is also the unit in which the file
/// driver gives a file disk blocks. Cached after the first call.
pub(crate) fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(imp::query_page_size)
}

/// Which file a handle or path refers to: the volume and the file's number on
/// it, plus its birth time where the OS keeps one.
///
/// Volume and number alone tell two live files apart; they do not tell a file
/// from a later one that reuses the number of a deleted one. The birth time
/// does (Linux `statx` `STATX_BTIME` on ext4, XFS, Btrfs, tmpfs; macOS and
/// the BSDs `st_birthtime`; Windows' creation time). See `record` for why
/// that is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    /// Device (Unix `st_dev`) or volume serial number (Windows).
    pub(crate) volume: u64,
    /// Inode (Unix `st_ino`) or file index (Windows).
    pub(crate) index: u64,
    /// Birth time as seconds and nanoseconds since the Unix epoch, if known.
    pub(crate) birth: Option<(i64, u32)>,
}

impl FileId {
    /// Whether `self` and `other` name the same file.
    ///
    /// With a birth time on both sides, the number and the birth time decide,
    /// not the volume: a device number can change across reboots (device
    /// mapper, NFS), and a record must survive that. Without one, volume and
    /// number decide.
    pub(crate) fn same_file(&self, other: &FileId) -> bool {
        match (self.birth, other.birth) {
            (Some(a), Some(b)) => self.index == other.index && a == b,
            _ => self.volume == other.volume && self.index == other.index,
        }
    }
}

/// The identity of the open file `file`.
pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    imp::file_id(file)
}

/// The identity of the file now at `path` (symlinks followed, as `open` does).
pub(crate) fn path_id(path: &Path) -> io::Result<FileId> {
    imp::path_id(path)
}

/// Refuses what is not a regular file on a disk file system: a directory
/// (`EISDIR`), a FIFO, a socket, a device, or a file of the kernel's procfs or
/// sysfs (`ENODEV`, what `mmap` itself answers for them), so that opening one
/// fails at once with a clear error instead of blocking, growing a device or
/// writing to a kernel setting. Returns the file's metadata.
pub(crate) fn check_regular(file: &File) -> io::Result<std::fs::Metadata> {
    let meta = file.metadata()?;
    check_regular_meta(&meta)?;
    if let Some(fs) = imp::pseudo_file_system(file) {
        return Err(refusal(
            ENODEV,
            format!("a file of {fs}, not a file on disk: only regular files can be mapped"),
        ));
    }
    Ok(meta)
}

/// [`check_regular`] for what `stat` said, before anything is opened.
pub(crate) fn check_regular_meta(meta: &std::fs::Metadata) -> io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let errno = if meta.is_dir() { EISDIR } else { ENODEV };
    Err(refusal(
        errno,
        format!(
            "not a regular file ({}): only regular files can be mapped",
            imp::file_kind(meta)
        ),
    ))
}

/// Which boot of the machine this is, as a number that changes at every
/// boot (Linux `boot_id`, macOS `kern.bootsessionuuid`, Windows the boot
/// time); `None` where the OS does not say. Compare two with [`same_boot`].
pub(crate) fn boot_id() -> Option<u128> {
    #[cfg(feature = "test-hooks")]
    if let Some(id) = *hooks::BOOT_ID.lock() {
        return Some(id);
    }
    static BOOT: OnceLock<Option<u128>> = OnceLock::new();
    *BOOT.get_or_init(imp::query_boot_id)
}

/// Parses the 32 hex digits of a UUID (dashes and whitespace ignored).
#[cfg_attr(windows, allow(dead_code))]
fn parse_uuid(text: &str) -> Option<u128> {
    let hex: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    (hex.len() == 32).then(|| u128::from_str_radix(&hex, 16).ok())?
}

/// Hooks for this crate's integration tests.
#[cfg(feature = "test-hooks")]
pub mod hooks {
    use parking_lot::Mutex;

    pub(super) static BOOT_ID: Mutex<Option<u128>> = Mutex::new(None);

    /// Makes this process believe it runs in the boot `id` (`None`: the
    /// real one), to test what survives a reboot.
    pub fn set_boot_id(id: Option<u128>) {
        *BOOT_ID.lock() = id;
    }
}

/// Birth time of a file, from what std knows (`statx` on Linux).
fn birth(meta: &std::fs::Metadata) -> Option<(i64, u32)> {
    let created = meta.created().ok()?;
    let since = created.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some((i64::try_from(since.as_secs()).ok()?, since.subsec_nanos()))
}

/// Fills `buf` from `offset` with repeated positional reads (`read(part,
/// at)`) until it is full or a read returns 0 (the end of the file); returns
/// how many bytes were read. Retries interrupted reads.
fn read_full(
    buf: &mut [u8],
    offset: u64,
    mut read: impl FnMut(&mut [u8], u64) -> io::Result<usize>,
) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match read(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Copies the bytes of `range` from `from` to the same offsets of `to`,
/// skipping what [`data_ranges`] reports as holes, so a sparse source stays
/// sparse in the copy.
pub(crate) fn copy_range(from: &File, to: &File, range: Range<u64>) -> io::Result<()> {
    let pieces = data_ranges(from, range.clone()).unwrap_or_else(|| vec![range]);
    let mut buf = vec![0u8; 1 << 20];
    for piece in pieces {
        let mut at = piece.start;
        while at < piece.end {
            let want = usize::try_from(piece.end - at).map_or(buf.len(), |n| n.min(buf.len()));
            let n = read_at(from, &mut buf[..want], at)?;
            if n == 0 {
                // The source is shorter: the rest reads as zeros, i.e. a hole.
                break;
            }
            write_all_at(to, &buf[..n], at)?;
            at += n as u64;
        }
    }
    Ok(())
}
