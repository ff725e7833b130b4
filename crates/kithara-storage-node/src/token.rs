//! `Token`: the core's `CancellationToken` for JavaScript.

use kithara_storage::{
    binding::{to_f64, to_u64, SharedToken, TOKENS},
    CancellationToken,
};
use napi::Env;
use napi_derive::napi;

use crate::error::OrThrow;

/// A cancellation token: cancelling it cancels every resource opened with it
/// (and with its children).
#[napi(js_name = "Token")]
pub struct NodeToken {
    token: SharedToken,
}

impl NodeToken {
    fn wrap(token: CancellationToken) -> Self {
        Self {
            token: TOKENS.wrap(token),
        }
    }

    /// The core token (a cheap clone).
    pub fn token(&self) -> CancellationToken {
        (*self.token).clone()
    }
}

#[napi]
impl NodeToken {
    /// Cancels the token and its children.
    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether the token (or a parent) was cancelled.
    #[napi]
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A child token: cancelled with this one, or on its own.
    #[napi]
    pub fn child(&self) -> NodeToken {
        Self::wrap(self.token.child_token())
    }

    /// A process-wide id for `tokenFromShared` in any worker thread.
    #[napi]
    pub fn share(&self) -> f64 {
        to_f64(self.token.share())
    }
}

/// A new, uncancelled token.
#[napi]
pub fn new_token() -> NodeToken {
    NodeToken::wrap(CancellationToken::new())
}

/// The token shared under `id`, while a JS object somewhere still holds it.
#[napi]
pub fn token_from_shared(env: Env, id: f64) -> napi::Result<NodeToken> {
    let token = TOKENS.lookup(to_u64(id)).or_throw(&env)?;
    Ok(NodeToken { token })
}
