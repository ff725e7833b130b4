//! Errors as JavaScript `Error` objects carrying `code` and, as Node's own
//! `fs` errors do, `errno`, `syscall` and `path` (plus `systemCode`, the
//! POSIX name an `fs` error has as its `code`, and `reason` for a failed
//! resource): the fields of the core's [`ErrorDetails`].

use kithara_storage::binding::ErrorDetails;
use napi::{bindgen_prelude::Object, Env, JsValue, Status};

/// The JavaScript `Error` for `details`.
pub fn error_object<'env>(env: &'env Env, details: &ErrorDetails) -> napi::Result<Object<'env>> {
    let mut obj = env.create_error(napi::Error::from_reason(details.message.as_str()))?;
    obj.set("code", details.code)?;
    if let Some(errno) = details.errno {
        obj.set("errno", errno)?;
    }
    if let Some(syscall) = details.syscall {
        obj.set("syscall", syscall)?;
    }
    if let Some(system_code) = details.system_code {
        obj.set("systemCode", system_code)?;
    }
    if let Some(path) = &details.path {
        obj.set("path", path.as_str())?;
    }
    if let Some(reason) = &details.reason {
        obj.set("reason", reason.as_str())?;
    }
    Ok(obj)
}

/// Throws the JavaScript error for `details` and returns the napi error that
/// tells the generated glue an exception is already pending.
pub fn throw(env: &Env, details: &ErrorDetails) -> napi::Error {
    match error_object(env, details).and_then(|obj| env.throw(obj)) {
        Ok(()) => napi::Error::new(Status::PendingException, details.message.as_str()),
        Err(e) => e,
    }
}

/// A napi error wrapped around the JavaScript object of `details`, for
/// places that hand an error to JavaScript as a value (the wait dispatcher).
pub fn error_value(env: &Env, details: &ErrorDetails) -> napi::Result<napi::Error> {
    let obj = error_object(env, details)?;
    Ok(napi::Error::from(obj.to_unknown()))
}

/// Converts a core result, throwing a coded JavaScript error on failure.
pub trait OrThrow<T> {
    /// `Ok` passes through; `Err` is thrown into `env`.
    fn or_throw(self, env: &Env) -> napi::Result<T>;
}

impl<T, E: Into<ErrorDetails>> OrThrow<T> for Result<T, E> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| throw(env, &e.into()))
    }
}
