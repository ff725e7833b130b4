//! [`ErrorDetails`]: a [`StorageError`] as the fields of a JavaScript error.

use crate::StorageError;

/// What a binding puts on the error object it throws: the fields of Node's
/// own `fs` errors (`code`, `errno`, `syscall`, `path`), the POSIX name of
/// the OS error (`systemCode`: what an `fs` error has as its `code`), plus
/// `reason` for a failed resource. Both bindings build their errors from
/// this one struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    /// The stable code (`ERR_STORAGE_…`, see [`StorageError::code`]).
    pub code: &'static str,
    /// The message (the core's `Display`).
    pub message: String,
    /// The OS error number, negative as in Node's `fs` errors (`Io` only).
    pub errno: Option<i32>,
    /// The system call that failed (`Io` only).
    pub syscall: Option<&'static str>,
    /// The POSIX name of the OS error, e.g. `ENOSPC` (`Io` only).
    pub system_code: Option<&'static str>,
    /// The file involved, when there is one.
    pub path: Option<String>,
    /// Why the resource was failed (`Failed` only).
    pub reason: Option<String>,
}

impl ErrorDetails {
    /// An error with only a code and a message, for conditions of a binding
    /// rather than of a resource (a shared handle that is gone).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            errno: None,
            syscall: None,
            system_code: None,
            path: None,
            reason: None,
        }
    }
}

impl From<&StorageError> for ErrorDetails {
    fn from(err: &StorageError) -> Self {
        let mut details = Self::new(err.code(), err.to_string());
        match err {
            StorageError::Io { syscall, path, .. } => {
                details.errno = err.errno().map(|n| -n);
                details.syscall = Some(syscall);
                details.system_code = err.system_code();
                details.path = path.as_ref().map(|p| p.to_string_lossy().into_owned());
            }
            StorageError::TmpClaimed(path) | StorageError::Locked { path } => {
                details.path = Some(path.to_string_lossy().into_owned());
            }
            StorageError::Failed(reason) => details.reason = Some(reason.clone()),
            _ => {}
        }
        details
    }
}

impl From<StorageError> for ErrorDetails {
    fn from(err: StorageError) -> Self {
        Self::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn io_errors_carry_negative_errno_syscall_and_path() {
        let err = StorageError::io(
            io::Error::from_raw_os_error(28),
            "write",
            Some("/x/y".into()),
        );
        let d = ErrorDetails::from(&err);
        assert_eq!(d.code, "ERR_STORAGE_IO");
        assert_eq!(d.errno, Some(-28));
        assert_eq!(d.syscall, Some("write"));
        #[cfg(unix)]
        assert_eq!(d.system_code, Some("ENOSPC"));
        assert_eq!(d.path.as_deref(), Some("/x/y"));
        assert_eq!(d.message, err.to_string());
    }

    #[test]
    fn system_codes_name_os_errors_and_the_crate_s_own_limits() {
        let named = |e: io::Error| StorageError::io(e, "open", None).system_code();
        #[cfg(unix)]
        {
            assert_eq!(
                named(io::Error::from_raw_os_error(libc::EISDIR)),
                Some("EISDIR")
            );
            assert_eq!(
                named(io::Error::from_raw_os_error(libc::ENOENT)),
                Some("ENOENT")
            );
        }
        // Made by the crate, without an OS number: named by kind.
        assert_eq!(named(io::ErrorKind::FileTooLarge.into()), Some("EFBIG"));
        assert_eq!(named(io::Error::other("?")), None);
        assert_eq!(StorageError::Closed.system_code(), None);
    }

    #[test]
    fn failed_carries_its_reason_and_others_only_code_and_message() {
        let d = ErrorDetails::from(StorageError::Failed("http 500".into()));
        assert_eq!(
            (d.code, d.reason.as_deref()),
            ("ERR_STORAGE_FAILED", Some("http 500"))
        );
        let d = ErrorDetails::from(StorageError::Closed);
        assert_eq!(
            d,
            ErrorDetails::new("ERR_STORAGE_CLOSED", "resource is closed")
        );
    }
}
