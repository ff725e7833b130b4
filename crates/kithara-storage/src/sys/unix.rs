//! Unix: hole punching on Linux (`fallocate(PUNCH_HOLE)`), `SEEK_DATA` and
//! `SEEK_HOLE` on Linux, macOS and FreeBSD, positional I/O through std's
//! `FileExt`, the writer's lock with `flock`, the boot id.
#![deny(unsafe_code)]

use std::{
    fs::{self, File, OpenOptions},
    io,
    ops::Range,
    os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt},
    path::Path,
};

pub(crate) use super::sigbus::guarded;
use super::{birth, FileId};

pub(crate) const EIO: i32 = libc::EIO;
pub(crate) const EEXIST: i32 = libc::EEXIST;
pub(crate) const ENOENT: i32 = libc::ENOENT;
pub(crate) const EISDIR: i32 = libc::EISDIR;
pub(crate) const ENODEV: i32 = libc::ENODEV;
pub(crate) const EMLINK: i32 = libc::EMLINK;

/// The POSIX name of OS error `errno`, for the errors file storage meets.
pub(crate) fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EEXIST => "EEXIST",
        libc::ENOSPC => "ENOSPC",
        libc::EDQUOT => "EDQUOT",
        libc::EFBIG => "EFBIG",
        libc::ENOMEM => "ENOMEM",
        libc::EISDIR => "EISDIR",
        libc::ENOTDIR => "ENOTDIR",
        libc::EROFS => "EROFS",
        libc::EIO => "EIO",
        libc::EBUSY => "EBUSY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EXDEV => "EXDEV",
        libc::EMLINK => "EMLINK",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ELOOP => "ELOOP",
        libc::ESPIPE => "ESPIPE",
        libc::ENODEV => "ENODEV",
        libc::ENXIO => "ENXIO",
        libc::EINVAL => "EINVAL",
        libc::EINTR => "EINTR",
        libc::EAGAIN => "EAGAIN",
        libc::EBADF => "EBADF",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENOTSUP => "ENOTSUP",
        libc::ENOSYS => "ENOSYS",
        libc::ESTALE => "ESTALE",
        _ => return None,
    })
}

pub(super) fn query_page_size() -> u64 {
    #[allow(unsafe_code)]
    // SAFETY: sysconf reads a constant of the process; no memory is passed.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096)
}

fn id_of(meta: &fs::Metadata) -> FileId {
    FileId {
        volume: meta.dev(),
        index: meta.ino(),
        birth: birth(meta),
    }
}

pub(super) fn file_id(file: &File) -> io::Result<FileId> {
    Ok(id_of(&file.metadata()?))
}

pub(super) fn path_id(path: &Path) -> io::Result<FileId> {
    Ok(id_of(&fs::metadata(path)?))
}

/// Unix files are sparse by nature: nothing to ask for.
pub(crate) fn make_sparse(_file: &File) -> io::Result<()> {
    Ok(())
}

/// Gives back the disk blocks of `len` bytes at `offset` (they read as zeros
/// afterwards). `Ok(false)` where the file system cannot.
pub(crate) fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rustix::{fs::FallocateFlags, io::Errno};
        let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
        match rustix::fs::fallocate(file, flags, offset, len) {
            Ok(()) => Ok(true),
            Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        Ok(false)
    }
}

/// The parts of `range` that hold data (disk blocks, or dirty pages not yet
/// written back), in order; `None` when the file system cannot tell, in which
/// case callers must assume all of it does.
pub(crate) fn data_ranges(file: &File, range: Range<u64>) -> Option<Vec<Range<u64>>> {
    let mut out = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let Some(data) = seek_data(file, at)? else {
            break;
        };
        if data >= range.end {
            break;
        }
        let hole = seek_hole(file, data)?.min(range.end);
        if hole <= data {
            // A file system that answers nonsense: trust nothing it said.
            return None;
        }
        out.push(data..hole);
        at = hole;
    }
    Some(out)
}

/// `lseek(SEEK_DATA)`: `Some(None)` past the last data, `None` if unsupported.
fn seek_data(file: &File, from: u64) -> Option<Option<u64>> {
    match lseek(file, from, Whence::Data) {
        Ok(at) => Some(Some(at)),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Some(None),
        Err(_) => None,
    }
}

/// `lseek(SEEK_HOLE)`: the end of the data that starts at `from`.
fn seek_hole(file: &File, from: u64) -> Option<u64> {
    lseek(file, from, Whence::Hole).ok()
}

enum Whence {
    Data,
    Hole,
}

#[cfg(target_os = "linux")]
fn lseek(file: &File, from: u64, whence: Whence) -> io::Result<u64> {
    use rustix::fs::SeekFrom;
    let pos = match whence {
        Whence::Data => SeekFrom::Data(from),
        Whence::Hole => SeekFrom::Hole(from),
    };
    Ok(rustix::fs::seek(file, pos)?)
}

#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
fn lseek(file: &File, from: u64, whence: Whence) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let whence = match whence {
        Whence::Data => libc::SEEK_DATA,
        Whence::Hole => libc::SEEK_HOLE,
    };
    let from =
        libc::off_t::try_from(from).map_err(|_| io::Error::from_raw_os_error(libc::ENXIO))?;
    #[allow(unsafe_code)]
    // SAFETY: lseek on a descriptor we own; it only moves the file offset,
    // which this crate never uses (all I/O is positional).
    let at = unsafe { libc::lseek(file.as_raw_fd(), from, whence) };
    u64::try_from(at).map_err(|_| io::Error::last_os_error())
}

#[cfg(not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd")))]
fn lseek(_file: &File, _from: u64, _whence: Whence) -> io::Result<u64> {
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// `pwrite` all of `data` at `offset`; ENOSPC and EFBIG come back as errors.
pub(crate) fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(data, offset)
}

/// `pread` into `buf` at `offset` until it is full or the file ends; returns
/// how many bytes were read.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    super::read_full(buf, offset, |part, at| file.read_at(part, at))
}

/// Opens the existing file at `path` for reading (and writing if `write`)
/// without ever blocking in `open` (`O_NONBLOCK`: a FIFO or a device would
/// otherwise wait for a peer; cleared again on Linux once the file is known
/// to be regular, where POSIX gives it no effect anyway), and without
/// following a symlink at `path` unless `follow` (`ELOOP` then). What it
/// opened must be a regular file on a disk file system (see
/// [`check_regular`](super::check_regular)); returns it with its metadata.
pub(crate) fn open_regular(
    path: &Path,
    write: bool,
    follow: bool,
) -> io::Result<(File, fs::Metadata)> {
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(flags)
        .open(path)?;
    let meta = super::check_regular(&file)?;
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
        fcntl_setfl(&file, fcntl_getfl(&file)? - OFlags::NONBLOCK)?;
    }
    Ok((file, meta))
}

/// The current size of `file`: one plain `fstat` on Linux (std's metadata
/// uses `statx` for every field, which costs more on a hot path).
pub(crate) fn file_len(file: &File) -> io::Result<u64> {
    #[cfg(target_os = "linux")]
    {
        let st = rustix::fs::fstat(file)?;
        Ok(u64::try_from(st.st_size).unwrap_or(0))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(file.metadata()?.len())
    }
}

/// What a non-regular file is, for messages.
pub(super) fn file_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// The kernel's view of itself (procfs, sysfs): files that claim to be
/// regular but ignore `ftruncate`, cannot be mapped, and whose writes change
/// the system. `None` for an ordinary file system.
pub(super) fn pseudo_file_system(file: &File) -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    {
        const PROC: u64 = 0x9fa0;
        const SYSFS: u64 = 0x6265_6572;
        #[allow(clippy::unnecessary_cast)] // the field's type differs by architecture
        let magic = rustix::fs::fstatfs(file).ok()?.f_type as u64;
        match magic {
            PROC => Some("procfs"),
            SYSFS => Some("sysfs"),
            _ => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// The owner (user id) of a file, and its number of hard links.
pub(crate) fn owner_and_links(meta: &fs::Metadata) -> (Option<u32>, u64) {
    (Some(meta.uid()), meta.nlink())
}

/// Makes the entries of `dir` (a rename into it) durable: `fsync` of the
/// directory. Best effort: the rename has happened either way, and some file
/// systems refuse to sync a directory.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// This process's effective user id.
pub(crate) fn effective_uid() -> Option<u32> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    Some(uid)
}

/// Gives `to` the owner, group and permission bits of `from` (the file it
/// will replace), as far as this process may: `fchown` to another user needs
/// privileges, so on `EPERM` the owner (then the group) stays ours. Set-id
/// bits are never copied.
pub(crate) fn copy_owner_and_mode(from: &fs::Metadata, to: &File) -> io::Result<()> {
    use std::os::unix::fs::{fchown, PermissionsExt};
    let ours = to.metadata()?;
    if (ours.uid(), ours.gid()) != (from.uid(), from.gid())
        && fchown(to, Some(from.uid()), Some(from.gid())).is_err()
    {
        // Not permitted: keep the group at least, if we are in it.
        let _ = fchown(to, None, Some(from.gid()));
    }
    to.set_permissions(fs::Permissions::from_mode(from.mode() & 0o777))
}

/// Creates `path` for reading and writing, failing if anything (a file or a
/// symlink) is already there; the mode is 0666 less the umask, as for any
/// file the process creates.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o666)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Takes an exclusive advisory lock on `file` without waiting (`flock`, so
/// it belongs to this open file description and dies with its last
/// descriptor, or with the process). `Ok(false)`: someone else holds it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Releases the lock [`try_lock`] took on `file`'s open file description,
/// whichever descriptors still refer to it (a forked child's, say).
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    file.unlock()
}

#[cfg(target_os = "linux")]
pub(super) fn query_boot_id() -> Option<u128> {
    let text = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    super::parse_uuid(&text)
}

#[cfg(target_vendor = "apple")]
pub(super) fn query_boot_id() -> Option<u128> {
    let mut buf = [0u8; 64];
    let mut len = buf.len();
    #[allow(unsafe_code)]
    // SAFETY: the name is NUL-terminated; `buf` is writable for `len` bytes
    // and sysctl writes at most that many; no new value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            c"kern.bootsessionuuid".as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    super::parse_uuid(std::str::from_utf8(&buf[..len.min(buf.len())]).ok()?)
}

#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
pub(super) fn query_boot_id() -> Option<u128> {
    None
}

/// Whether two [`boot_id`](super::boot_id)s name the same boot: exact ids.
pub(crate) fn same_boot(a: u128, b: u128) -> bool {
    a == b
}
