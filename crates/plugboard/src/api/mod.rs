//! The HTTP surface. For now: the probes `/livez` and `/readyz` and the detailed
//! `/api/v1/health`; the versioned API, auth and streams grow here.
//!
//! Owns: routing, status codes, response bodies. Must not touch: SQL (it calls `queue/`).

mod health;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::queue::Queue;

/// What the router serves from.
pub struct ApiParams {
    pub queue: Queue,
    /// A queue this node works: the health check's `noop` job goes there.
    pub probe_queue: String,
    /// The `sandbox` check of `/api/v1/health`: what protects this node's plugin processes,
    /// worked out once at start by the caller (`ok` false when plugins cannot start).
    pub sandbox: serde_json::Value,
}

/// The router, separate from the listener so tests can serve it on a port of their own.
pub fn router(params: ApiParams) -> Router {
    let state = health::HealthState::new(params);
    Router::new()
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/health", get(health::health))
        .with_state(state)
}

/// Serves the router on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, params: ApiParams, stop: CancellationToken) {
    let app = router(params);
    let outcome = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(error) = outcome {
        tracing::error!(%error, "the HTTP server stopped");
    }
}
