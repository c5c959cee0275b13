//! Webhook addresses: each config may have one, `/hooks/{config}/{secret}`, that reaches its
//! plugin's webhook route (the route its metadata marks `webhook`) with the config and its
//! tenant attached, so a public caller (GitHub, Stripe) cannot pick the tenant it acts for.
//!
//! `POST /api/v1/configs/{id}/webhook` makes the address (a new secret each time: the old
//! address stops working) and shows the secret once; the store keeps only its sha256.
//! `DELETE` removes it. A delivery to an address that does not exist and one with a wrong
//! secret get the same `404`, compared in constant time.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use plugboard_protocol::methods::{HttpConfig, HttpParams};
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::auth::{self, Caller};
use super::plugin_routes;
use super::problem::{ApiError, PathParams, Problem};
use super::AppState;

/// The prefix of webhook secrets, so a leaked one is recognisable.
const SECRET_PREFIX: &str = "wh_";

/// A config's new webhook address.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// The config it delivers to.
    pub config_id: String,
    /// The address below this server's base URL: `/hooks/{config}/{secret}`. Give the sender
    /// the base URL followed by it.
    pub path: String,
    /// The secret in the path, shown this once.
    pub secret: String,
}

/// Make a config's webhook address, or replace it: the old address stops working. Answers the
/// address once; the server keeps only a hash of its secret.
#[utoipa::path(post, path = "/api/v1/configs/{id}/webhook", operation_id = "create_config_webhook", tag = "configs",
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 201, body = WebhookView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The config's plugin declares no webhook route"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    caller.require_write()?;
    let config = super::tenants::visible_config(&state, &caller, &id).await?;
    let store = state.queue.store();
    if let Some(record) = store.plugin_metadata_get(&config.plugin).await? {
        let declared: Option<plugboard_protocol::Metadata> = record
            .metadata
            .and_then(|metadata| serde_json::from_value(metadata).ok());
        if declared.is_some_and(|metadata| !metadata.routes.iter().any(|route| route.webhook)) {
            return Err(ApiError::Conflict(format!(
                "plugin {} declares no webhook route, so deliveries to a webhook of config {id} would have nowhere to go",
                config.plugin
            )));
        }
    }
    let secret = auth::mint_secret(SECRET_PREFIX);
    if !store.webhook_put(&id, &auth::hash_secret(&secret)).await? {
        return Err(ApiError::NotFound(format!("config {id} does not exist")));
    }
    tracing::info!(config = %id, by = caller.label(), "webhook address made");
    Ok((
        StatusCode::CREATED,
        Json(WebhookView {
            path: format!("/hooks/{id}/{secret}"),
            config_id: id,
            secret,
        }),
    )
        .into_response())
}

/// Remove a config's webhook address.
#[utoipa::path(delete, path = "/api/v1/configs/{id}/webhook", operation_id = "delete_config_webhook", tag = "configs",
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_write()?;
    let config = super::tenants::visible_config(&state, &caller, &id).await?;
    if state.queue.store().webhook_delete(&config.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "config {id} has no webhook address"
        )))
    }
}

/// `/hooks/{config}/{secret}`, any method: a delivery for the config's plugin.
pub(super) async fn deliver(
    State(state): State<AppState>,
    PathParams((config_id, secret)): PathParams<(String, String)>,
    request: Request,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let mut labels = None;
    let (mut parts, body) = request.into_parts();
    let mut body = Some(body);
    let outcome = receive(
        &state,
        &config_id,
        &secret,
        &mut parts,
        &mut body,
        &mut labels,
    )
    .await;
    plugin_routes::answer(&state, started, &method, labels, outcome, body).await
}

async fn receive(
    state: &AppState,
    config_id: &str,
    secret: &str,
    parts: &mut axum::http::request::Parts,
    body: &mut Option<axum::body::Body>,
    labels: &mut Option<(String, String)>,
) -> Result<Response, ApiError> {
    let address = plugin_routes::client_address(parts);
    state
        .limits
        .per_address
        .check(&address)
        .map_err(|wait| super::rate_limited("this client address", wait))?;
    let no_such_address = || {
        ApiError::NotFound(
            "no webhook has this address; the config's owner can make a new one with POST /api/v1/configs/{id}/webhook"
                .to_owned(),
        )
    };
    let store = state.queue.store();
    let stored = store.webhook_get(config_id).await?;
    let presented = auth::hash_secret(secret);
    let matches = stored
        .as_deref()
        .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(presented.as_bytes())));
    if !matches {
        return Err(no_such_address());
    }
    let config = store
        .config_get(config_id)
        .await?
        .ok_or_else(no_such_address)?;
    if !config.enabled {
        return Err(ApiError::Conflict(format!(
            "config {config_id} is disabled, so its webhook takes no deliveries; enable it first"
        )));
    }
    if let Some(reason) = &config.invalid_reason {
        return Err(ApiError::Conflict(format!(
            "config {config_id} is invalid ({reason}), so its webhook takes no deliveries; fix its values first"
        )));
    }
    let endpoint = plugin_routes::endpoint(state, &config.plugin)?;
    let Some(declared) = endpoint.declared() else {
        return Err(ApiError::PluginUnavailable {
            detail: format!(
                "plugin `{}` has not started yet on this node; try again in a moment",
                config.plugin
            ),
            retry_after_secs: 1,
        });
    };
    let Some(route) = declared.routes.iter().find(|route| route.webhook) else {
        return Err(ApiError::NotFound(format!(
            "plugin `{}` declares no webhook route in the version running here ({})",
            config.plugin,
            endpoint.version()
        )));
    };
    let method = parts.method.clone();
    let head_as_get = method == Method::HEAD && route.method == "GET";
    if route.method != method.as_str() && !head_as_get {
        return Err(ApiError::MethodNotAllowed(format!(
            "{method} is not allowed on this webhook; plugin `{}` takes {} deliveries",
            config.plugin, route.method
        )));
    }
    *labels = Some((config.plugin.clone(), route.path.clone()));
    let _slot = state.route_load.enter(&config.plugin)?;
    let (body, _hold) = plugin_routes::read_body(state, &parts.headers, body).await?;
    let values = state.tenants.open_values(&config).map_err(|error| {
        ApiError::Internal(format!(
            "the secrets of config {config_id} cannot be opened: {error}"
        ))
    })?;
    let params = HttpParams {
        method: route.method.clone(),
        path: route.path.clone(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: plugin_routes::forwarded_headers(&parts.headers),
        body: base64::engine::general_purpose::STANDARD.encode(&body),
        tenant: Some(config.tenant.clone()),
        route: route.path.clone(),
        params: Default::default(),
        access: "webhook".to_owned(),
        config: Some(HttpConfig {
            id: config.id.clone(),
            name: config.name.clone(),
            values,
        }),
    };
    drop(body);
    plugin_routes::call_plugin(state, &config.plugin, endpoint, route, &params, head_as_get).await
}
