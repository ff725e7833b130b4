//! Core errors as JavaScript `Error` objects carrying `code`, and for I/O
//! errors `errno`, `syscall` and `path`, as Node's own `fs` errors do.

use kithara_storage::StorageError;
use napi::{bindgen_prelude::Object, Env, JsValue, Status};

/// Builds the JavaScript `Error` for `err`: message = the core's `Display`.
pub fn error_object<'env>(env: &'env Env, err: &StorageError) -> napi::Result<Object<'env>> {
    let mut obj = env.create_error(napi::Error::from_reason(err.to_string()))?;
    obj.set("code", err.code())?;
    match err {
        StorageError::Io { syscall, path, .. } => {
            if let Some(errno) = err.errno() {
                // Negative, as Node's fs errors have it.
                obj.set("errno", -errno)?;
            }
            obj.set("syscall", *syscall)?;
            if let Some(path) = path {
                obj.set("path", path.to_string_lossy().into_owned())?;
            }
        }
        StorageError::Failed(reason) => obj.set("reason", reason.as_str())?,
        StorageError::TmpClaimed(path) => obj.set("path", path.to_string_lossy().into_owned())?,
        _ => {}
    }
    Ok(obj)
}

/// Throws the JavaScript error for `err` and returns the napi error that
/// tells the generated glue an exception is already pending.
pub fn throw(env: &Env, err: &StorageError) -> napi::Error {
    let thrown = error_object(env, err).and_then(|obj| env.throw(obj));
    match thrown {
        Ok(()) => napi::Error::new(Status::PendingException, err.to_string()),
        Err(e) => e,
    }
}

/// Converts a core result, throwing a coded JavaScript error on failure.
pub trait OrThrow<T> {
    /// `Ok` passes through; `Err` is thrown into `env`.
    fn or_throw(self, env: &Env) -> napi::Result<T>;
}

impl<T> OrThrow<T> for Result<T, StorageError> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| throw(env, &e))
    }
}

/// A napi error wrapped around the JavaScript object of `err`, for places
/// that hand an error to JavaScript as a value (the wait dispatcher).
pub fn error_value(env: &Env, err: &StorageError) -> napi::Result<napi::Error> {
    let obj = error_object(env, err)?;
    Ok(napi::Error::from(obj.to_unknown()))
}

/// Throws an error the core has no variant for (a binding-level condition),
/// with the given `code` and message.
pub fn throw_coded(env: &Env, code: &'static str, message: &str) -> napi::Error {
    let thrown = env
        .create_error(napi::Error::from_reason(message))
        .and_then(|mut obj| {
            obj.set("code", code)?;
            env.throw(obj)
        });
    match thrown {
        Ok(()) => napi::Error::new(Status::PendingException, message),
        Err(e) => e,
    }
}
