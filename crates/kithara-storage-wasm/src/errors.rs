//! `StorageError` to JavaScript `Error` with the contract's `code` and details.

use js_sys::{Error, Reflect};
use kithara_storage::StorageError;
use wasm_bindgen::JsValue;

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
    let err = coded(e.code(), &e.to_string());
    match e {
        StorageError::Io { syscall, path, .. } => {
            if let Some(errno) = e.errno() {
                // Negative, as Node's fs errors have it.
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
