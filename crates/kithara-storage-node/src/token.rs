//! `NativeToken`: the core's `CancellationToken` for JavaScript.

use std::sync::{Arc, OnceLock};

use kithara_storage::CancellationToken;
use napi::Env;
use napi_derive::napi;

use crate::{error::throw_coded, registry::Registry};

/// A token and its registry id, shared by every JS object that wraps it.
pub struct TokenCell {
    token: CancellationToken,
    shared_id: OnceLock<i64>,
}

impl Drop for TokenCell {
    fn drop(&mut self) {
        TOKENS.remove(&self.shared_id);
    }
}

/// Tokens that were shared with `share()`, by id.
pub static TOKENS: Registry<TokenCell> = Registry::new();

/// A cancellation token: cancelling it cancels every resource opened with it
/// (and with its children).
#[napi]
pub struct NativeToken {
    cell: Arc<TokenCell>,
}

impl NativeToken {
    fn wrap(token: CancellationToken) -> Self {
        Self {
            cell: Arc::new(TokenCell {
                token,
                shared_id: OnceLock::new(),
            }),
        }
    }

    /// The core token (a cheap clone).
    pub fn token(&self) -> CancellationToken {
        self.cell.token.clone()
    }
}

#[napi]
impl NativeToken {
    /// Cancels the token and its children.
    #[napi]
    pub fn cancel(&self) {
        self.cell.token.cancel();
    }

    /// Whether the token (or a parent) was cancelled.
    #[napi]
    pub fn is_cancelled(&self) -> bool {
        self.cell.token.is_cancelled()
    }

    /// A child token: cancelled with this one, or on its own.
    #[napi]
    pub fn child(&self) -> NativeToken {
        Self::wrap(self.cell.token.child_token())
    }

    /// A process-wide id for `tokenFromShared` in any worker thread.
    #[napi]
    pub fn share(&self) -> i64 {
        TOKENS.share(&self.cell.shared_id, Arc::downgrade(&self.cell))
    }
}

/// A new, uncancelled token.
#[napi]
pub fn new_token() -> NativeToken {
    NativeToken::wrap(CancellationToken::new())
}

/// The token shared under `id`, while a JS object somewhere still holds it.
#[napi]
pub fn token_from_shared(env: Env, id: i64) -> napi::Result<NativeToken> {
    match TOKENS.get(id) {
        Some(cell) => Ok(NativeToken { cell }),
        None => Err(throw_coded(
            &env,
            "ERR_STORAGE_CLOSED",
            &format!("shared token {id} is gone: every object holding it was dropped"),
        )),
    }
}
