//! The HTTP surface: the probes `/livez` and `/readyz`, the versioned API under `/api/v1` (health,
//! jobs, plugins, tenants and configs, events, tokens, nodes), `/metrics`, and the OpenAPI document generated from the handlers.
//!
//! Every route under `/api/v1` except the OpenAPI document and its reference page needs a token
//! (`auth.rs`), is rate limited per client address and per token (`ratelimit.rs`), and answers
//! errors as RFC 9457 problem documents (`problem.rs`). Routes are registered only through
//! `utoipa_axum::routes!`, so each is in `/api/v1/openapi.json`; a test fails when one is not.
//!
//! Owns: routing, status codes, response bodies, auth, rate limits, caps on live streams
//! (`stream_slots.rs`). Must not touch: SQL (it calls
//! `queue/`, `tenants/`, `events/` and the `Store` trait the queue hands out) and `plugins/` (admin actions are jobs it
//! enqueues by kind name).

mod auth;
mod changes;
mod console;
mod docs;
mod events;
mod health;
mod hooks;
mod integer;
mod jobs;
mod limits;
mod local;
mod mcp;
mod metrics;
mod nodes;
mod openapi;
mod plugin_routes;
mod plugins;
mod problem;
mod ratelimit;
mod session;
mod stats;
mod stream_slots;
mod streams;
mod tenants;
mod time;
mod tokens;
mod uploads;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::events::Events;
use crate::queue::Queue;
use crate::settings::{RateLimitSettings, StreamLimitSettings};
use crate::tenants::{SecretKey, Tenants};

pub use auth::{mint_secret, AdminToken, ADMIN_TOKEN_MIN_LEN};
pub use jobs::{CancelResult, JobPage, JobView, LogLineView, LogPage};
pub use local::{LocalNode, LocalPlugin, LocalPlugins, PluginCallError, PluginEndpoint};
pub use plugin_routes::RouteLimits;
pub use problem::{ApiError, FieldError, Problem};
pub use session::{sign_in_path, SignInCodes};
pub use uploads::UploadParams;

/// What the router serves from.
pub struct ApiParams {
    pub queue: Queue,
    /// A queue this node works: the health check's `noop` job goes there.
    pub probe_queue: String,
    /// The `sandbox` check of `/api/v1/health`: what protects this node's plugin processes,
    /// worked out once at start by the caller (`ok` false when plugins cannot start).
    pub sandbox: serde_json::Value,
    /// The admin token (`PLUGBOARD_ADMIN_TOKEN`, or the one `serve` made).
    pub admin_token: AdminToken,
    pub rate_limits: RateLimitSettings,
    /// Caps on live streams (SSE and WebSocket).
    pub stream_limits: StreamLimitSettings,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// Plugin routes' body cap and timeout.
    pub routes: RouteLimits,
    /// The key that seals config secrets (`tenants/secrets.rs`): the one the workers open
    /// them with.
    pub secret_key: SecretKey,
    /// Where uploaded plugin packages are written and their size cap.
    pub uploads: UploadParams,
    /// This node's id, worker pool and plugin processes, for readiness, metrics and config
    /// tests.
    pub local: LocalNode,
    /// The console's one-time sign-in codes this node gave out (`serve` prints the first).
    pub sign_in: Arc<SignInCodes>,
    /// Serve the console from this folder instead of the compiled copy (`console_dir`).
    pub console_dir: Option<std::path::PathBuf>,
}

/// What every handler reaches through `State`.
#[derive(Clone)]
pub struct AppState {
    queue: Queue,
    tenants: Tenants,
    events: Events,
    health: health::HealthState,
    admin: Arc<AdminToken>,
    limits: Arc<ratelimit::RateLimits>,
    /// The live streams open now and their caps.
    streams: Arc<stream_slots::StreamSlots>,
    metrics: Arc<metrics::HttpMetrics>,
    uploads: Arc<UploadParams>,
    routes: RouteLimits,
    /// What route requests hold on this node now.
    route_load: Arc<plugin_routes::RouteLoad>,
    local: LocalNode,
    /// Cancelled when the server stops: ends every open stream.
    stop: CancellationToken,
    /// The MCP endpoint's tool catalogue and sessions.
    mcp: Arc<mcp::Mcp>,
    /// The console's sign-in codes.
    sign_in: Arc<SignInCodes>,
    /// `console_dir`, when set.
    console_dir: Option<Arc<std::path::Path>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "plugboard",
        description = "The plugboard HTTP API: jobs, plugins, tenants, configs, events, tokens, health. Errors are RFC 9457 problem documents (application/problem+json). Send `Authorization: Bearer TOKEN`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(problem::Problem, problem::FieldError)),
    tags(
        (name = "jobs", description = "The job queue"),
        (name = "plugins", description = "Installed plugins and the admin's actions on them"),
        (name = "tenants", description = "Tenants"),
        (name = "configs", description = "Tenants' plugin configs: values, schedules, event subscriptions, runs"),
        (name = "events", description = "Events and their fan-out to subscribed configs"),
        (name = "tokens", description = "API tokens (admin only)"),
        (name = "nodes", description = "The plugboard servers sharing the store"),
        (name = "health", description = "Health and metrics"),
        (name = "limits", description = "Concurrency and rate limits per tenant and per plugin"),
        (name = "session", description = "The signed-in token, and the console's one-time sign-in links"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Routes that need a token, each registered with its OpenAPI description.
fn protected_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(metrics::metrics))
        .routes(routes!(jobs::create, jobs::list))
        .routes(routes!(jobs::create_batch))
        .routes(routes!(jobs::show))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::cancel_many))
        .routes(routes!(jobs::retry_many))
        .routes(routes!(jobs::logs))
        .routes(routes!(changes::list))
        .routes(routes!(changes::job))
        .routes(routes!(plugins::list, plugins::install))
        .routes(routes!(plugins::show, plugins::uninstall))
        .routes(routes!(plugins::update))
        .routes(routes!(plugins::rollback))
        .routes(routes!(plugins::enable))
        .routes(routes!(plugins::disable))
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::show_tenant, tenants::delete_tenant))
        .routes(routes!(tenants::list_configs, tenants::create_config))
        .routes(routes!(
            tenants::show_config,
            tenants::replace_config,
            tenants::delete_config
        ))
        .routes(routes!(tenants::run_config))
        .routes(routes!(tenants::validate_config))
        .routes(routes!(tenants::next_fires))
        .routes(routes!(tenants::preview_fires))
        .routes(routes!(events::post, events::list))
        .routes(routes!(events::show))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(limits::list))
        .routes(routes!(limits::put, limits::delete))
        .routes(routes!(nodes::list))
        .routes(routes!(nodes::show))
        .routes(routes!(hooks::create, hooks::delete))
        .routes(routes!(tenants::test_config))
        .routes(routes!(tenants::validate_new_config))
        .routes(routes!(session::show, session::sign_in, session::sign_out))
        .routes(routes!(session::create_link))
        .routes(routes!(stats::show))
}

/// The OpenAPI 3.1 document of the API (`openapi.rs`).
pub fn openapi() -> serde_json::Value {
    openapi::document()
}

/// Routes outside the OpenAPI document: the console, the probes, the document itself and its
/// reference page, and the MCP endpoint with its protected resource metadata (`docs/mcp.md`).
pub const UNDOCUMENTED_ROUTES: &[&str] = &[
    "/",
    "/assets/{*file}",
    "/{file}",
    "/livez",
    "/readyz",
    "/api/v1/openapi.json",
    "/api/v1/docs",
    "/api/v1/docs/assets/{file}",
    "/plugins/{plugin}",
    "/plugins/{plugin}/",
    "/plugins/{plugin}/{*rest}",
    "/hooks/{config}/{secret}",
    mcp::PATH,
    mcp::RESOURCE_METADATA_PATH,
];

/// The router, separate from the listener so tests can serve it on a port of their own. Serve
/// it with `into_make_service_with_connect_info::<SocketAddr>()` so that rate limits see client
/// addresses.
pub fn router(params: ApiParams) -> Router {
    router_until(params, CancellationToken::new())
}

/// [`router`] whose open streams end when `stop` is cancelled.
fn router_until(params: ApiParams, stop: CancellationToken) -> Router {
    let store = params.queue.store().clone();
    let state = AppState {
        queue: params.queue.clone(),
        tenants: match &params.local.plugins {
            Some(plugins) => Tenants::new(store.clone(), params.secret_key)
                .with_plugin_check(Arc::new(local::LocalCheck(plugins.clone()))),
            None => Tenants::new(store.clone(), params.secret_key),
        },
        events: Events::new(store.clone()),
        mcp: mcp::Mcp::new(store),
        sign_in: params.sign_in,
        console_dir: params.console_dir.map(Arc::from),
        admin: Arc::new(params.admin_token),
        limits: Arc::new(ratelimit::RateLimits::new(params.rate_limits)),
        streams: stream_slots::StreamSlots::new(params.stream_limits),
        metrics: Arc::new(metrics::HttpMetrics::default()),
        uploads: Arc::new(params.uploads),
        routes: params.routes,
        route_load: Arc::default(),
        health: health::HealthState::new(
            params.queue,
            params.probe_queue,
            params.sandbox,
            params.local.workers.clone(),
        ),
        local: params.local,
        stop,
    };
    let (protected, _) = protected_routes().split_for_parts();
    let document = Arc::new(openapi::document());
    let protected = protected.route_layer(middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route(
            "/api/v1/openapi.json",
            get(move |State(state): State<AppState>| {
                let document = document.clone();
                async move { openapi_document(&state, &document).await }
            }),
        )
        .route("/", get(console::index))
        .route("/assets/{*file}", get(console::asset))
        .route("/{file}", get(console::root_file))
        .route("/api/v1/docs", get(docs::page))
        .route("/api/v1/docs/assets/{file}", get(docs::asset))
        .merge(protected)
        .merge(mcp::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(params.body_limit))
        // Plugin routes and webhooks hold their bodies to `route_max_body_mb` themselves.
        .merge(plugin_facing(state.clone()))
        .with_state(state)
}

/// What plugins add to the server: their routes and the configs' webhook addresses, outside
/// `/api/v1` and its body limit.
fn plugin_facing(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/plugins/{plugin}", any(plugin_routes::handle))
        .route("/plugins/{plugin}/", any(plugin_routes::handle))
        .route("/plugins/{plugin}/{*rest}", any(plugin_routes::handle))
        .route("/hooks/{config}/{secret}", any(hooks::deliver))
        .route_layer(middleware::from_fn_with_state(state, metrics::track))
        .layer(DefaultBodyLimit::disable())
}

/// The OpenAPI document: the API's own routes and those of the enabled plugins.
async fn openapi_document(state: &AppState, base: &serde_json::Value) -> Response {
    let mut document = base.clone();
    plugin_routes::document_plugin_routes(state, &mut document);
    let body = serde_json::to_string_pretty(&document).unwrap_or_default();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Rate limits, then authentication, then the read-only rule, for every protected route.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match admit(&state, &mut parts).await {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(error) => problem::refused_before_body(error, body).await,
    }
}

async fn admit(state: &AppState, parts: &mut axum::http::request::Parts) -> Result<(), ApiError> {
    let address = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    // The address pays only for requests without a valid token: a client with one is limited
    // by its token alone, and one without is refused before its token is looked up once its
    // address has spent its bucket.
    let by_address = |wait| rate_limited("this client address", wait);
    if session::is_sign_in(parts) {
        // The one request that brings no token: it brings a one-time code instead.
        return state.limits.per_address.check(&address).map_err(by_address);
    }
    state
        .limits
        .per_address
        .peek(&address)
        .map_err(by_address)?;
    let caller = auth::authenticate(parts, &state.admin, state.queue.store().as_ref())
        .await
        .inspect_err(|_| state.limits.per_address.charge(&address, 1.0))?;
    state
        .limits
        .per_token
        .check(caller.label())
        .map_err(|wait| rate_limited("this token", wait))?;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !session::is_sign_out(parts)
    {
        caller.require_write()?;
    }
    parts.extensions.insert(caller);
    parts
        .extensions
        .insert(stream_slots::ClientAddress(address));
    Ok(())
}

pub(super) fn rate_limited(who: &str, wait: u64) -> ApiError {
    ApiError::RateLimited {
        detail: format!(
            "{who} sent more requests than the server allows (rate_limit_* settings); wait {wait} s and try again"
        ),
        retry_after_secs: wait,
    }
}

/// Serves the router on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, params: ApiParams, stop: CancellationToken) {
    use axum::serve::ListenerExt;
    let app = router_until(params, stop.clone());
    // Without TCP_NODELAY, a stream's second small write waits for the client's delayed ACK
    // (40 ms on Linux): an MCP call answered on an SSE stream took 42 ms instead of 1.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY could not be set on a connection");
        }
    });
    let outcome = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await;
    if let Err(error) = outcome {
        tracing::error!(%error, "the HTTP server stopped");
    }
}
