//! Who is calling: the admin token and the API tokens the admin creates.
//!
//! A request carries `Authorization: Bearer SECRET`. The admin token (`PLUGBOARD_ADMIN_TOKEN`,
//! at least 32 characters) may do everything. An API token is `pb_` followed by 64 hex digits
//! (32 random bytes); the store keeps only its sha256, so a token is shown once, when it is
//! created. A token is global or scoped to one tenant, and may read or also write; it may expire
//! and be revoked.
//!
//! Comparisons are in constant time: the admin token is compared as sha256 digests with
//! `subtle`, and an API token is found by the sha256 of what the caller sent, so the time taken
//! says nothing about how much of a secret was right.
//!
//! Owns: minting and hashing secrets, turning a request's credentials into a [`Caller`], and
//! the rules of what a caller may do ([`Caller::require_write`] and friends). Must not touch:
//! SQL (tokens are rows behind the `Store` trait).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::ApiError;
use crate::store::{ApiToken, Store, Timestamp, TokenAccess};

/// The prefix of API token secrets, so a leaked one is recognisable (and greppable).
pub const TOKEN_PREFIX: &str = "pb_";

/// The shortest admin token accepted.
pub const ADMIN_TOKEN_MIN_LEN: usize = 32;

/// Who made a request, once authenticated.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin token: everything.
    Admin,
    /// An API token.
    Token(ApiToken),
}

impl Caller {
    /// True for the admin token and the console sessions signed in with a one-time link.
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Token(token) => token.access == TokenAccess::Admin && token.tenant.is_none(),
        }
    }

    /// What the caller may do, as `GET /api/v1/session` says it: `admin`, `write` or `read`.
    pub fn access(&self) -> TokenAccess {
        match self {
            Caller::Admin => TokenAccess::Admin,
            Caller::Token(token) => token.access,
        }
    }

    /// The tenant the caller is confined to; `None` for the admin and global tokens.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Caller::Admin => None,
            Caller::Token(token) => token.tenant.as_deref(),
        }
    }

    /// The tenant a request acts for: the caller's own when it is scoped to one (asking for
    /// another is refused with 403, saying it cannot `what` of that tenant), else what it asked.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] when a tenant token asks for another tenant.
    pub fn tenant_for(
        &self,
        asked: Option<String>,
        what: &str,
    ) -> Result<Option<String>, ApiError> {
        match (self.tenant(), asked) {
            (Some(own), Some(asked)) if own != asked => Err(ApiError::Forbidden(format!(
                "token {} is scoped to tenant {own} and cannot {what} of tenant {asked}",
                self.label()
            ))),
            (Some(own), _) => Ok(Some(own.to_owned())),
            (None, asked) => Ok(asked),
        }
    }

    /// A name for logs and metrics: `admin` or the token's id.
    pub fn label(&self) -> &str {
        match self {
            Caller::Admin => "admin",
            Caller::Token(token) => &token.id,
        }
    }

    /// True when the caller may see something of `tenant` (`None`: belongs to no tenant, which
    /// only global callers see).
    pub fn can_see(&self, tenant: Option<&str>) -> bool {
        match self.tenant() {
            None => true,
            Some(own) => tenant == Some(own),
        }
    }

    /// Refuses read-only tokens.
    pub fn require_write(&self) -> Result<(), ApiError> {
        match self {
            Caller::Token(token) if token.access == TokenAccess::Read => {
                Err(ApiError::Forbidden(format!(
                    "token {} may only read; ask the admin for a token with write access",
                    token.id
                )))
            }
            _ => Ok(()),
        }
    }

    /// Refuses everything but the admin token and global write tokens (plugin administration).
    pub fn require_global_write(&self) -> Result<(), ApiError> {
        self.require_write()?;
        if let Some(tenant) = self.tenant() {
            return Err(ApiError::Forbidden(format!(
                "token {} is scoped to tenant {tenant}; this needs the admin token or a global token with write access",
                self.label()
            )));
        }
        Ok(())
    }

    /// Refuses tenant-scoped tokens: what spans the whole cluster (nodes) is for the admin token
    /// and global tokens, read or write.
    pub fn require_global(&self) -> Result<(), ApiError> {
        if let Some(tenant) = self.tenant() {
            return Err(ApiError::Forbidden(format!(
                "token {} is scoped to tenant {tenant}; this needs the admin token or a global token",
                self.label()
            )));
        }
        Ok(())
    }

    /// Refuses everything but the admin token.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "only the admin token (PLUGBOARD_ADMIN_TOKEN) may do this, not token {}",
            self.label()
        )))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal("a route that needs a caller is outside the auth layer".to_owned())
        })
    }
}

/// The admin token, kept as its digest.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    /// # Errors
    /// A token shorter than [`ADMIN_TOKEN_MIN_LEN`], with what to do.
    pub fn new(token: &str) -> Result<AdminToken, String> {
        if token.chars().count() < ADMIN_TOKEN_MIN_LEN {
            return Err(format!(
                "PLUGBOARD_ADMIN_TOKEN has {} characters and must have at least {ADMIN_TOKEN_MIN_LEN}; generate one with `openssl rand -hex 32`, or unset it to let plugboard serve make one",
                token.chars().count()
            ));
        }
        Ok(AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&digest).into()
    }
}

/// A new random secret: `prefix` and 64 hex digits (32 bytes from the OS's generator).
pub fn mint_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut secret = String::with_capacity(prefix.len() + 64);
    secret.push_str(prefix);
    for byte in bytes {
        secret.push_str(&format!("{byte:02x}"));
    }
    secret
}

/// The lowercase hex sha256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The subprotocol a WebSocket client offers, and the server answers with, beside its token.
pub const WEBSOCKET_PROTOCOL: &str = "plugboard.v1";

/// The token a WebSocket client offers as the subprotocol `bearer.TOKEN`: browsers cannot set
/// `Authorization` on a WebSocket, and a token in the URL would end up in access logs. The server
/// never echoes it: it answers with [`WEBSOCKET_PROTOCOL`].
fn websocket_bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|protocol| protocol.trim().strip_prefix("bearer."))
}

/// Works out the caller from the `Authorization` header (or, for a WebSocket, the `bearer.TOKEN`
/// subprotocol).
///
/// # Errors
/// [`ApiError::Unauthorized`] saying what is wrong: no header, not `Bearer`, too short, unknown,
/// expired or revoked.
pub async fn authenticate(
    parts: &Parts,
    admin: &AdminToken,
    store: &dyn Store,
) -> Result<Caller, ApiError> {
    let secret = match parts.headers.get(AUTHORIZATION) {
        Some(header) => {
            let header = header.to_str().unwrap_or("");
            header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the Authorization header must be `Bearer TOKEN`".to_owned(),
                    )
                })?
        }
        None => websocket_bearer(parts).ok_or_else(|| {
            ApiError::Unauthorized(
                "this needs a token: send `Authorization: Bearer TOKEN` with the admin token or an API token (WebSocket clients that cannot set headers offer the subprotocol `bearer.TOKEN` beside `plugboard.v1`)".to_owned(),
            )
        })?,
    };
    if secret.len() < ADMIN_TOKEN_MIN_LEN {
        return Err(ApiError::Unauthorized(format!(
            "the token is too short ({} characters) to be a plugboard token; tokens have at least {ADMIN_TOKEN_MIN_LEN}",
            secret.len()
        )));
    }
    if admin.matches(secret) {
        return Ok(Caller::Admin);
    }
    let unknown = || {
        ApiError::Unauthorized(
            "the token is not the admin token nor a known API token; check it, or ask the admin for a new one".to_owned(),
        )
    };
    if !secret.starts_with(TOKEN_PREFIX) {
        return Err(unknown());
    }
    let token = store
        .token_find_by_hash(&hash_secret(secret))
        .await?
        .ok_or_else(unknown)?;
    if token.revoked_at.is_some() {
        return Err(ApiError::Unauthorized(format!(
            "token {} was revoked; ask the admin for a new one",
            token.id
        )));
    }
    if let Some(expires_at) = token.expires_at {
        if expires_at <= Timestamp::now() {
            return Err(ApiError::Unauthorized(format!(
                "token {} expired at {}; ask the admin for a new one",
                token.id,
                super::time::format(expires_at)
            )));
        }
    }
    Ok(Caller::Token(token))
}
