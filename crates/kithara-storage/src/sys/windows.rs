//! Windows: NTFS sparse files (`FSCTL_SET_SPARSE`), `FSCTL_SET_ZERO_DATA` to
//! give blocks back, `FSCTL_QUERY_ALLOCATED_RANGES` to find them, file
//! identity from `GetFileInformationByHandle`, the writer's lock with
//! `LockFileEx`, the boot time from `GetTickCount64`.
//!
//! As on Unix, the file driver gives fresh pages their blocks with `WriteFile`
//! (which fails cleanly with `ERROR_DISK_FULL`), never through the mapping.
#![deny(unsafe_code)]

use std::{
    fs::{File, OpenOptions},
    io, mem,
    ops::Range,
    os::windows::{
        fs::{FileExt, OpenOptionsExt},
        io::AsRawHandle,
    },
    path::Path,
    ptr,
};

use windows_sys::Win32::{
    Foundation::{ERROR_IO_PENDING, ERROR_LOCK_VIOLATION, FILETIME},
    Storage::FileSystem::{
        GetFileInformationByHandle, LockFileEx, BY_HANDLE_FILE_INFORMATION,
        FILE_FLAG_OPEN_REPARSE_POINT, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    },
    System::{
        Ioctl::{
            FILE_ALLOCATED_RANGE_BUFFER, FILE_ZERO_DATA_INFORMATION, FSCTL_QUERY_ALLOCATED_RANGES,
            FSCTL_SET_SPARSE, FSCTL_SET_ZERO_DATA,
        },
        SystemInformation::{GetSystemTimeAsFileTime, GetTickCount64},
        IO::{DeviceIoControl, OVERLAPPED},
    },
};

use super::{birth, FileId};

// The POSIX numbers the rest of the crate reports for these conditions.
pub(crate) const EIO: i32 = 5;
pub(crate) const EEXIST: i32 = 17;
pub(crate) const ENOENT: i32 = 2;
pub(crate) const EISDIR: i32 = 21;
pub(crate) const ENODEV: i32 = 19;
pub(crate) const EMLINK: i32 = 31;

/// The POSIX name of OS error `code`: Windows error numbers are not POSIX
/// ones, so the caller names the error by its kind instead.
pub(crate) fn errno_name(_code: i32) -> Option<&'static str> {
    None
}

const ERROR_MORE_DATA: i32 = 234;

pub(super) fn query_page_size() -> u64 {
    // 4 KiB on every architecture Windows runs on (x64, arm64).
    4096
}

/// `DeviceIoControl` with plain in and out buffers; returns the bytes written to `out`.
fn ioctl<I, O>(file: &File, code: u32, input: Option<&I>, out: &mut [O]) -> io::Result<usize> {
    let (in_ptr, in_len) = match input {
        Some(i) => ((i as *const I).cast(), mem::size_of::<I>()),
        None => (ptr::null(), 0),
    };
    let mut returned = 0u32;
    #[allow(unsafe_code)]
    // SAFETY: the handle is open for the call's duration; the buffers are
    // valid for the lengths passed; no OVERLAPPED (synchronous handle).
    let ok = unsafe {
        DeviceIoControl(
            file.as_raw_handle(),
            code,
            in_ptr,
            u32::try_from(in_len).unwrap_or(0),
            out.as_mut_ptr().cast(),
            u32::try_from(mem::size_of_val(out)).unwrap_or(u32::MAX),
            &mut returned,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(returned as usize)
}

fn handle_info(file: &File) -> io::Result<BY_HANDLE_FILE_INFORMATION> {
    #[allow(unsafe_code)]
    // SAFETY: an all-zero BY_HANDLE_FILE_INFORMATION is valid plain data.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { mem::zeroed() };
    #[allow(unsafe_code)]
    // SAFETY: the handle is open; `info` is a valid out pointer.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

pub(super) fn file_id(file: &File) -> io::Result<FileId> {
    let info = handle_info(file)?;
    Ok(FileId {
        volume: u64::from(info.dwVolumeSerialNumber),
        index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        birth: birth(&file.metadata()?),
    })
}

pub(super) fn path_id(path: &Path) -> io::Result<FileId> {
    // Opening with no access rights is allowed even when another handle
    // denies sharing; it is enough to ask for the identity.
    let file = OpenOptions::new().access_mode(0).open(path)?;
    file_id(&file)
}

/// Marks `file` sparse, so growing it and leaving gaps costs no disk.
pub(crate) fn make_sparse(file: &File) -> io::Result<()> {
    ioctl::<(), u8>(file, FSCTL_SET_SPARSE, None, &mut []).map(drop)
}

/// Gives back the blocks of `len` bytes at `offset` (NTFS frees whole
/// sparse units of 64 KiB; the rest is zeroed).
pub(crate) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let range = FILE_ZERO_DATA_INFORMATION {
        FileOffset: i64::try_from(offset).unwrap_or(i64::MAX),
        BeyondFinalZero: i64::try_from(offset.saturating_add(len)).unwrap_or(i64::MAX),
    };
    ioctl::<_, u8>(file, FSCTL_SET_ZERO_DATA, Some(&range), &mut [])?;
    Ok(true)
}

/// The allocated parts of `range`; `None` if the volume cannot tell.
pub(crate) fn data_ranges(file: &File, range: Range<u64>) -> Option<Vec<Range<u64>>> {
    let mut out = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let query = FILE_ALLOCATED_RANGE_BUFFER {
            FileOffset: i64::try_from(at).ok()?,
            Length: i64::try_from(range.end - at).ok()?,
        };
        let mut found = [FILE_ALLOCATED_RANGE_BUFFER {
            FileOffset: 0,
            Length: 0,
        }; 64];
        let (n, more) = match ioctl(file, FSCTL_QUERY_ALLOCATED_RANGES, Some(&query), &mut found) {
            Ok(bytes) => (bytes / mem::size_of::<FILE_ALLOCATED_RANGE_BUFFER>(), false),
            Err(e) if e.raw_os_error() == Some(ERROR_MORE_DATA) => (found.len(), true),
            Err(_) => return None,
        };
        for r in &found[..n] {
            let start = u64::try_from(r.FileOffset).ok()?;
            let end = start.checked_add(u64::try_from(r.Length).ok()?)?;
            out.push(start.max(range.start)..end.min(range.end));
            at = end;
        }
        if !more || n == 0 {
            break;
        }
    }
    Some(out)
}

/// Writes all of `data` at `offset`; a full disk is `ERROR_DISK_FULL`.
pub(crate) fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < data.len() {
        match file.seek_write(&data[done..], offset + done as u64)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// Reads into `buf` at `offset` until it is full or the file ends.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    super::read_full(buf, offset, |part, at| file.seek_read(part, at))
}

/// Creates `path` for reading and writing, failing if anything is there; a
/// reparse point (symlink) at `path` is not followed.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

/// Opens the existing file at `path` for reading (and writing if `write`);
/// with `follow: false` a reparse point (symlink) is opened as itself, and
/// then refused as not a regular file. Returns it with its metadata.
pub(crate) fn open_regular(
    path: &Path,
    write: bool,
    follow: bool,
) -> io::Result<(File, std::fs::Metadata)> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(write);
    if !follow {
        opts.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
    }
    let file = opts.open(path)?;
    let meta = super::check_regular(&file)?;
    Ok((file, meta))
}

/// The current size of `file`.
pub(crate) fn file_len(file: &File) -> io::Result<u64> {
    Ok(file.metadata()?.len())
}

/// What a non-regular file is, for messages.
pub(super) fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else if meta.file_type().is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// No pseudo file systems of the kind procfs is.
pub(super) fn pseudo_file_system(_file: &File) -> Option<&'static str> {
    None
}

/// The owner (none: Windows owners are SIDs) and the number of hard links
/// (taken as 1: std does not expose it on Windows, where they are rare).
pub(crate) fn owner_and_links(_meta: &std::fs::Metadata) -> (Option<u32>, u64) {
    (None, 1)
}

/// Directory entries are durable once the call that made them returns.
pub(crate) fn sync_dir(_dir: &Path) {}

/// No user ids on Windows.
pub(crate) fn effective_uid() -> Option<u32> {
    None
}

/// The replacement inherits the directory's ACL, as any new file there.
pub(crate) fn copy_owner_and_mode(_from: &std::fs::Metadata, _to: &File) -> io::Result<()> {
    Ok(())
}

/// Windows refuses to truncate a mapped file, so a copy cannot fault.
pub(crate) fn guarded<T>(copy: impl FnOnce() -> T) -> io::Result<T> {
    Ok(copy())
}

/// Releases the lock [`try_lock`] took: nothing to do before the handle
/// closes, since handles this crate opens are not inherited by children.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn unlock(_file: &File) -> io::Result<()> {
    Ok(())
}

/// Takes an exclusive lock without waiting on one byte far past any data
/// (`LockFileEx` at offset 2^63 - 1), not on the whole file: Windows locks
/// are mandatory, and a lock on the data would fail the reads of followers
/// and the writer's own `WriteFile`s through other handles. It belongs to
/// this handle and dies with it. `Ok(false)`: someone else holds it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    #[allow(unsafe_code)]
    // SAFETY: an all-zero OVERLAPPED is valid plain data.
    let mut at: OVERLAPPED = unsafe { mem::zeroed() };
    at.Anonymous.Anonymous.Offset = u32::MAX;
    at.Anonymous.Anonymous.OffsetHigh = 0x7FFF_FFFF;
    #[allow(unsafe_code)]
    // SAFETY: the handle is open; `at` lives across the call, which does not
    // return before the lock is decided (LOCKFILE_FAIL_IMMEDIATELY on a
    // synchronous handle).
    let ok = unsafe {
        LockFileEx(
            file.as_raw_handle(),
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            1,
            0,
            &mut at,
        )
    };
    if ok != 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error().and_then(|c| u32::try_from(c).ok()) {
        Some(ERROR_LOCK_VIOLATION | ERROR_IO_PENDING) => Ok(false),
        _ => Err(e),
    }
}

/// The boot time in 100 ns units since 1601: the clock now less the time
/// since boot. Not exact (it moves with clock adjustments), see [`same_boot`].
pub(super) fn query_boot_id() -> Option<u128> {
    let mut now = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: both calls only write the out value given; no handles.
    let uptime_ms = unsafe {
        GetSystemTimeAsFileTime(&mut now);
        GetTickCount64()
    };
    let now = (u64::from(now.dwHighDateTime) << 32) | u64::from(now.dwLowDateTime);
    Some(u128::from(now.checked_sub(uptime_ms.checked_mul(10_000)?)?))
}

/// Whether two boot times name the same boot: within 2 s of each other. A
/// reboot takes longer than that, so two boots never come closer; a clock
/// change between the two readings can only make one boot look like two,
/// which costs a takeover its live region, never trusts a stale one.
pub(crate) fn same_boot(a: u128, b: u128) -> bool {
    a.abs_diff(b) <= 2 * 10_000_000
}
