//! `/api/v1/tokens`: the admin creates, lists and revokes API tokens. The secret is answered
//! once, at creation; the store keeps its sha256 only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{hash_secret, mint_secret, Caller, TOKEN_PREFIX};
use super::problem::{ApiError, JsonBody, PathParams, Problem};
use super::{time, AppState};
use crate::store::{ApiToken, NewApiToken, Timestamp, TokenAccess};

/// What a token may do.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum AccessName {
    Admin,
    Write,
    Read,
}

/// A token as listed: everything but its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// `null`: every tenant.
    #[schema(required = true)]
    pub tenant: Option<String>,
    /// `admin` only for a console session.
    #[schema(inline, value_type = AccessName)]
    pub access: String,
    pub created_at: String,
    #[schema(required = true)]
    pub expires_at: Option<String>,
    #[schema(required = true)]
    pub revoked_at: Option<String>,
}

impl From<ApiToken> for TokenView {
    fn from(token: ApiToken) -> TokenView {
        TokenView {
            id: token.id,
            name: token.name,
            tenant: token.tenant,
            access: token.access.as_str().to_owned(),
            created_at: time::format(token.created_at),
            expires_at: token.expires_at.map(time::format),
            revoked_at: token.revoked_at.map(time::format),
        }
    }
}

/// A new token, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    /// Send as `Authorization: Bearer SECRET`. It cannot be shown again.
    pub secret: String,
}

/// Tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for (1 to 200 characters, not only spaces).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// Confine the token to one tenant; absent: every tenant.
    #[schema(min_length = 1, max_length = 128)]
    pub tenant: Option<String>,
    /// `read` or `write`.
    #[schema(value_type = String, pattern = "^(read|write)$")]
    pub access: TokenAccess,
    /// RFC 3339, in the future; absent with `expires_in_seconds` absent too: never expires.
    /// Give one of the two at most.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Expire this many seconds from now: 1 to 315360000 (ten years).
    #[schema(minimum = 1, maximum = 315360000)]
    #[serde(default, deserialize_with = "super::integer::option")]
    pub expires_in_seconds: Option<u64>,
}

/// Create an API token (admin only). The answer is the only time the secret is shown.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "create_token", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, body = CreatedToken),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require_admin()?;
    if body.access == TokenAccess::Admin {
        return Err(ApiError::invalid(
            "/access",
            "use read or write; a token with the admin's rights is made only by signing in to the console with a one-time link (docs/console.md)",
        ));
    }
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("/name", "use 1 to 200 characters"));
    }
    if let Some(tenant) = &body.tenant {
        if tenant.is_empty() || tenant.len() > 128 {
            return Err(ApiError::invalid("/tenant", "use 1 to 128 characters"));
        }
    }
    let expires_at = match (body.expires_at, body.expires_in_seconds) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "/expires_at",
                "give expires_at or expires_in_seconds, not both",
            ))
        }
        (Some(at), None) => {
            let at = time::parse(&at).map_err(|reason| ApiError::invalid("/expires_at", reason))?;
            if at <= Timestamp::now() {
                return Err(ApiError::invalid("/expires_at", "is in the past"));
            }
            Some(at)
        }
        (None, Some(seconds)) => {
            if seconds == 0 || seconds > 10 * 365 * 24 * 3600 {
                return Err(ApiError::invalid(
                    "/expires_in_seconds",
                    "use 1 to 315360000 (ten years)",
                ));
            }
            Some(Timestamp::now().plus(std::time::Duration::from_secs(seconds)))
        }
        (None, None) => None,
    };
    let secret = mint_secret(TOKEN_PREFIX);
    // The id is public (listings, revoke): random too, so it says nothing about the secret.
    let id = mint_secret("tok_")[..20].to_owned();
    let token = state
        .queue
        .store()
        .token_create(NewApiToken {
            id,
            name,
            hash: hash_secret(&secret),
            tenant: body.tenant,
            access: body.access,
            expires_at,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: token.into(),
            secret,
        }),
    ))
}

/// List API tokens (admin only), revoked and expired ones included.
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_tokens", tag = "tokens",
    responses(
        (status = 200, body = TokenList),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TokenList>, ApiError> {
    caller.require_admin()?;
    let tokens = state.queue.store().token_list().await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(TokenView::from).collect(),
    }))
}

/// Revoke an API token (admin only); it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", operation_id = "revoke_token", tag = "tokens",
    params(("id" = String, Path, description = "Token id (tok_…)")),
    responses(
        (status = 200, body = TokenView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<TokenView>, ApiError> {
    caller.require_admin()?;
    let token = state
        .queue
        .store()
        .token_revoke(&id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "there is no token {id}; GET /api/v1/tokens lists them"
            ))
        })?;
    Ok(Json(token.into()))
}
