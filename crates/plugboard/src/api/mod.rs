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

/// The router, separate from the listener so tests can serve it on a port of their own.
/// `probe_queue` is a queue this node works: the health check's `noop` job goes there.
pub fn router(queue: Queue, probe_queue: String) -> Router {
    let state = health::HealthState::new(queue, probe_queue);
    Router::new()
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/health", get(health::health))
        .with_state(state)
}

/// Serves the router on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    queue: Queue,
    probe_queue: String,
    stop: CancellationToken,
) {
    let app = router(queue, probe_queue);
    let outcome = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(error) = outcome {
        tracing::error!(%error, "the HTTP server stopped");
    }
}
