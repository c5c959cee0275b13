//! `/api/v1/limits`: concurrency and rate limits per tenant and per plugin, which every node's
//! claims follow (see `store::limits`). The admin sets them; global tokens may read them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::{ApiError, JsonBody, PathParams, Problem};
use super::AppState;
use crate::store::{JobLimit, LimitScope};

/// What a limit holds back: one tenant's jobs or one plugin's.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum ScopeName {
    Tenant,
    Plugin,
}

/// A limit on a tenant or a plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitView {
    #[schema(inline, value_type = ScopeName)]
    pub scope: String,
    /// The tenant or plugin id, or `*` for every one without a limit of its own.
    #[schema(example = "acme")]
    pub name: String,
    /// At most this many of its jobs run at once, on all nodes together.
    #[schema(required = true)]
    pub max_running: Option<u32>,
    /// At most this many of its jobs start per second, on all nodes together.
    #[schema(required = true)]
    pub rate_per_second: Option<f64>,
    /// Starts the rate allows in one burst (default: one second's worth).
    #[schema(required = true)]
    pub burst: Option<u32>,
}

impl From<JobLimit> for LimitView {
    fn from(limit: JobLimit) -> LimitView {
        LimitView {
            scope: limit.scope.as_str().to_owned(),
            name: limit.name,
            max_running: limit.max_running,
            rate_per_second: limit.rate_per_second,
            burst: limit.burst,
        }
    }
}

/// Every limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitList {
    pub limits: Vec<LimitView>,
}

/// `PUT /api/v1/limits/{scope}/{name}`: at least one of `max_running` and `rate_per_second`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutLimit {
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "super::integer::option")]
    pub max_running: Option<i32>,
    #[schema(exclusive_minimum = 0.0, maximum = 1000000.0)]
    pub rate_per_second: Option<f64>,
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "super::integer::option")]
    pub burst: Option<i32>,
}

fn scope_of(text: &str) -> Result<LimitScope, ApiError> {
    LimitScope::parse(text).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there are no `{text}` limits; limits are per `tenant` or per `plugin`"
        ))
    })
}

fn require_global(caller: &Caller) -> Result<(), ApiError> {
    match caller.tenant() {
        None => Ok(()),
        Some(tenant) => Err(ApiError::Forbidden(format!(
            "this token is confined to tenant {tenant}; limits are read with a global token"
        ))),
    }
}

/// List every limit.
#[utoipa::path(get, path = "/api/v1/limits", operation_id = "list_limits", tag = "limits",
    responses(
        (status = 200, body = LimitList),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LimitList>, ApiError> {
    require_global(&caller)?;
    let limits = state.queue.limit_list().await?;
    Ok(Json(LimitList {
        limits: limits.into_iter().map(LimitView::from).collect(),
    }))
}

/// Set the limit of a tenant or plugin (admin only), replacing the one it had. Every node
/// follows it within a second.
#[utoipa::path(put, path = "/api/v1/limits/{scope}/{name}", operation_id = "put_limit", tag = "limits",
    params(
        ("scope" = String, Path, description = "`tenant` or `plugin`", pattern = "^(tenant|plugin)$"),
        ("name" = String, Path, description = "Tenant or plugin id, or `*` for every one",
            pattern = r"^(\*|[A-Za-z0-9_.\-]{1,64})$"),
    ),
    request_body = PutLimit,
    responses(
        (status = 200, body = LimitView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((scope, name)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<PutLimit>,
) -> Result<Json<LimitView>, ApiError> {
    caller.require_admin()?;
    let scope = scope_of(&scope)?;
    // Counts are at most i32::MAX, which every store keeps.
    let count = |field: &str, value: Option<i32>| {
        value
            .map(|n| {
                u32::try_from(n)
                    .map_err(|_| ApiError::invalid(format!("/{field}"), "must be at least 1"))
            })
            .transpose()
    };
    let limit = state
        .queue
        .limit_put(JobLimit {
            scope,
            name,
            max_running: count("max_running", body.max_running)?,
            rate_per_second: body.rate_per_second,
            burst: count("burst", body.burst)?,
        })
        .await?;
    Ok(Json(limit.into()))
}

/// Remove the limit of a tenant or plugin (admin only); jobs it held back may start at once.
#[utoipa::path(delete, path = "/api/v1/limits/{scope}/{name}", operation_id = "delete_limit", tag = "limits",
    params(
        ("scope" = String, Path, description = "`tenant` or `plugin`", pattern = "^(tenant|plugin)$"),
        ("name" = String, Path, description = "Tenant or plugin id, or `*`"),
    ),
    responses(
        (status = 204, description = "The limit was removed"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((scope, name)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let scope_value = scope_of(&scope)?;
    if state.queue.limit_delete(scope_value, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "{scope} {name} has no limit; GET /api/v1/limits lists them"
        )))
    }
}
