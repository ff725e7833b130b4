//! `StorageError` to JavaScript `Error` with the contract's `code` and details.

use js_sys::{Error, Reflect};
use kithara_storage::StorageError;
use wasm_bindgen::JsValue;

/// The stable code of `e` (see `StorageErrorCode` in `src/native.ts`).
fn code_of(e: &StorageError) -> &'static str {
    match e {
        StorageError::Io { .. } => "ERR_STORAGE_IO",
        StorageError::InvalidRange { .. } => "ERR_STORAGE_INVALID_RANGE",
        StorageError::Failed(_) => "ERR_STORAGE_FAILED",
        StorageError::Cancelled => "ERR_STORAGE_CANCELLED",
        StorageError::TmpClaimed(_) => "ERR_STORAGE_TMP_CLAIMED",
        StorageError::Committed => "ERR_STORAGE_COMMITTED",
        StorageError::ReadOnly => "ERR_STORAGE_READ_ONLY",
        StorageError::Closed => "ERR_STORAGE_CLOSED",
        StorageError::Timeout => "ERR_STORAGE_TIMEOUT",
        // Unsupported, and any variant a later core adds.
        _ => "ERR_STORAGE_UNSUPPORTED",
    }
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// An `Error` with `message` and `code`.
pub(crate) fn coded(code: &str, message: &str) -> JsValue {
    let err: JsValue = Error::new(message).into();
    set(&err, "code", &JsValue::from_str(code));
    err
}

/// An `ERR_STORAGE_UNSUPPORTED` error worded as the core words it.
pub(crate) fn unsupported(what: &str) -> JsValue {
    coded("ERR_STORAGE_UNSUPPORTED", &format!("unsupported: {what}"))
}

/// The JavaScript form of a core error: the core's message, its code and,
/// where they apply, `errno` (negative), `syscall`, `path` and `reason`.
pub(crate) fn to_js_error(e: &StorageError) -> JsValue {
    let err = coded(code_of(e), &e.to_string());
    match e {
        StorageError::Io {
            source,
            syscall,
            path,
        } => {
            if let Some(errno) = source.raw_os_error() {
                set(&err, "errno", &JsValue::from(-errno));
            }
            set(&err, "syscall", &JsValue::from_str(syscall));
            if let Some(p) = path {
                set(&err, "path", &JsValue::from_str(&p.to_string_lossy()));
            }
        }
        StorageError::TmpClaimed(p) => set(&err, "path", &JsValue::from_str(&p.to_string_lossy())),
        StorageError::Failed(reason) => set(&err, "reason", &JsValue::from_str(reason)),
        _ => {}
    }
    err
}
