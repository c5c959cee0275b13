//! `/api/v1/session`: who the caller is, signing in to the console with a one-time code, and
//! signing out.
//!
//! `plugboard serve` prints a sign-in link with a code (and `POST /api/v1/session/links` makes
//! another): the code is single-use, lives [`CODE_TTL`], is kept by this node only (the link
//! names this node) and only as its sha256. Exchanged with `POST /api/v1/session`, it becomes a
//! console session: an API token with the admin's rights ([`TokenAccess::Admin`]) that expires
//! after [`SESSION_TTL`], is listed with the other tokens and may be revoked like them. So
//! nobody copies the admin token out of a file to use the console.
//!
//! Owns: the codes and the exchange. Must not touch: SQL (the session is a token row behind the
//! `Store` trait).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{hash_secret, mint_secret, Caller, TOKEN_PREFIX};
use super::problem::{ApiError, JsonBody, Problem};
use super::{time, AppState};
use crate::store::{NewApiToken, Timestamp, TokenAccess};

/// How long a sign-in code may wait to be used.
pub const CODE_TTL: Duration = Duration::from_secs(15 * 60);

/// How long a console session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The most codes waiting at once; minting more forgets the oldest.
const MAX_CODES: usize = 64;

/// The sign-in codes this node gave out and that were not used yet, by sha256.
#[derive(Default)]
pub struct SignInCodes {
    codes: Mutex<HashMap<String, Instant>>,
}

impl SignInCodes {
    pub fn new() -> Arc<SignInCodes> {
        Arc::default()
    }

    /// A new code, valid for [`CODE_TTL`] and for one sign-in.
    pub fn mint(&self) -> String {
        let code = mint_secret("");
        let mut codes = self
            .codes
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        codes.retain(|_, expires| *expires > now);
        if codes.len() >= MAX_CODES {
            if let Some(oldest) = codes
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(hash, _)| hash.clone())
            {
                codes.remove(&oldest);
            }
        }
        codes.insert(hash_secret(&code), now + CODE_TTL);
        code
    }

    /// Uses up `code`: true when it was given out, not used and not expired.
    fn take(&self, code: &str) -> bool {
        let mut codes = self
            .codes
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Found by its digest: the time taken says nothing about how much of a code was right.
        match codes.remove(&hash_secret(code)) {
            Some(expires) => expires > Instant::now(),
            None => false,
        }
    }
}

/// The console's address for a code, relative to the server's root.
pub fn sign_in_path(code: &str) -> String {
    format!("/#/sign-in?code={code}")
}

/// What the signed-in token may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// `admin` (the admin token or a console session), `write` or `read`.
    #[schema(inline, value_type = super::tokens::AccessName)]
    pub access: String,
    /// The tenant the token is confined to; `null`: every tenant.
    #[schema(required = true)]
    pub tenant: Option<String>,
    /// The API token behind the session; `null` for the admin token.
    #[schema(required = true)]
    pub token: Option<SessionToken>,
}

/// The API token of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToken {
    pub id: String,
    pub name: String,
    #[schema(required = true)]
    pub expires_at: Option<String>,
}

/// `POST /api/v1/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The code of a sign-in link.
    #[schema(min_length = 1, max_length = 200)]
    pub code: String,
}

/// A console session: its token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    /// Send as `Authorization: Bearer TOKEN`.
    pub token: String,
    pub token_id: String,
    pub expires_at: String,
    /// Always `admin`.
    pub access: String,
}

/// A new sign-in link.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInLink {
    pub code: String,
    /// The console's address for it, relative to this server: `/#/sign-in?code=…`.
    pub path: String,
    pub expires_at: String,
}

/// Who the caller is and what it may do.
#[utoipa::path(get, path = "/api/v1/session", operation_id = "get_session", tag = "session",
    responses(
        (status = 200, body = SessionView),
    ))]
pub async fn show(caller: Caller) -> Json<SessionView> {
    Json(SessionView {
        access: caller.access().as_str().to_owned(),
        tenant: caller.tenant().map(str::to_owned),
        token: match caller {
            Caller::Admin => None,
            Caller::Token(token) => Some(SessionToken {
                id: token.id,
                name: token.name,
                expires_at: token.expires_at.map(time::format),
            }),
        },
    })
}

/// Exchange a sign-in link's code for a console session (no token needed; each code works once).
#[utoipa::path(post, path = "/api/v1/session", operation_id = "sign_in", tag = "session", request_body = SignIn,
    security(()),
    responses(
        (status = 201, body = SignedIn),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<(StatusCode, Json<SignedIn>), ApiError> {
    if !state.sign_in.take(body.code.trim()) {
        return Err(ApiError::Unauthorized(
            "this sign-in link was used already, has expired (links last 15 minutes) or was made by another server; run `plugboard console-link` for a new one, or sign in with a token".to_owned(),
        ));
    }
    let token = mint_secret(TOKEN_PREFIX);
    let expires_at = Timestamp::now().plus(SESSION_TTL);
    let stored = state
        .queue
        .store()
        .token_create(NewApiToken {
            id: mint_secret("tok_")[..20].to_owned(),
            name: "console session (sign-in link)".to_owned(),
            hash: hash_secret(&token),
            tenant: None,
            access: TokenAccess::Admin,
            expires_at: Some(expires_at),
        })
        .await?;
    tracing::info!(token = %stored.id, "signed in to the console with a one-time link");
    Ok((
        StatusCode::CREATED,
        Json(SignedIn {
            token,
            token_id: stored.id,
            expires_at: time::format(expires_at),
            access: TokenAccess::Admin.as_str().to_owned(),
        }),
    ))
}

/// Sign out: a console session's token is revoked; other tokens stay valid (signing out of the
/// console does not revoke a token used elsewhere).
#[utoipa::path(delete, path = "/api/v1/session", operation_id = "sign_out", tag = "session",
    responses(
        (status = 204, description = "Signed out"),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    if let Caller::Token(token) = &caller {
        if token.access == TokenAccess::Admin {
            state.queue.store().token_revoke(&token.id).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Make a new one-time sign-in link for the console (admin only).
#[utoipa::path(post, path = "/api/v1/session/links", operation_id = "create_sign_in_link", tag = "session",
    responses(
        (status = 201, body = SignInLink),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<SignInLink>), ApiError> {
    caller.require_admin()?;
    let code = state.sign_in.mint();
    Ok((
        StatusCode::CREATED,
        Json(SignInLink {
            path: sign_in_path(&code),
            code,
            expires_at: time::format(Timestamp::now().plus(CODE_TTL)),
        }),
    ))
}

/// True for the requests the guard lets through without a token (the sign-in itself) or
/// without write access (signing out).
pub(super) fn is_sign_in(parts: &axum::http::request::Parts) -> bool {
    parts.method == axum::http::Method::POST && parts.uri.path() == "/api/v1/session"
}

pub(super) fn is_sign_out(parts: &axum::http::request::Parts) -> bool {
    parts.method == axum::http::Method::DELETE && parts.uri.path() == "/api/v1/session"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once() {
        let codes = SignInCodes::default();
        let code = codes.mint();
        assert!(!codes.take("not-a-code"));
        assert!(codes.take(&code));
        assert!(!codes.take(&code), "a code is single-use");
    }

    #[test]
    fn minting_forgets_the_oldest_past_the_cap() {
        let codes = SignInCodes::default();
        let first = codes.mint();
        for _ in 0..MAX_CODES {
            codes.mint();
        }
        assert!(!codes.take(&first));
    }
}
