//! `/metrics` in the Prometheus text format: jobs by queue and status (from the store, so every
//! node reports the whole queue), installed plugins by state, and this node's HTTP requests by
//! route, method and status with their total duration, and open log streams.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::problem::{ApiError, Problem};
use super::AppState;

/// A series of requests: route, method and status.
type RequestKey = (String, String, u16);

/// Counters of this node's HTTP traffic.
#[derive(Default)]
pub struct HttpMetrics {
    /// Per series: how many, and the seconds they took.
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
    sse_open: AtomicI64,
}

impl HttpMetrics {
    fn record(&self, route: String, method: String, status: u16, seconds: f64) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = requests.entry((route, method, status)).or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }

    pub(super) fn sse_opened(&self) {
        self.sse_open.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a stream as closed when dropped.
pub(super) struct SseGuard(pub Arc<HttpMetrics>);

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.0.sse_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Records every request with the route it matched (not the raw path, so ids do not make a
/// series each).
pub(super) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    state.metrics.record(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Metrics in the Prometheus text format (version 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(State(state): State<AppState>, _caller: Caller) -> Result<Response, ApiError> {
    let store = state.queue.store();
    let mut out = String::new();
    let counts = store.job_counts().await?;
    let _ = writeln!(
        out,
        "# HELP plugboard_jobs Jobs in the store by queue and status."
    );
    let _ = writeln!(out, "# TYPE plugboard_jobs gauge");
    for count in &counts {
        let _ = writeln!(
            out,
            "plugboard_jobs{{queue=\"{}\",status=\"{}\"}} {}",
            escape(&count.queue),
            count.status,
            count.count
        );
    }
    let _ = writeln!(out, "# HELP plugboard_queue_depth Queued jobs by queue.");
    let _ = writeln!(out, "# TYPE plugboard_queue_depth gauge");
    let mut depth: BTreeMap<&str, i64> = BTreeMap::new();
    for count in &counts {
        let entry = depth.entry(count.queue.as_str()).or_default();
        if count.status == crate::store::JobStatus::Queued {
            *entry += count.count;
        }
    }
    for (queue, queued) in depth {
        let _ = writeln!(
            out,
            "plugboard_queue_depth{{queue=\"{}\"}} {queued}",
            escape(queue)
        );
    }
    let plugins = store.plugin_list().await?;
    let _ = writeln!(out, "# HELP plugboard_plugins Installed plugins by state.");
    let _ = writeln!(out, "# TYPE plugboard_plugins gauge");
    let mut states: BTreeMap<&str, i64> = BTreeMap::new();
    for plugin in &plugins {
        *states.entry(plugin.state.as_str()).or_default() += 1;
    }
    for (plugin_state, count) in states {
        let _ = writeln!(out, "plugboard_plugins{{state=\"{plugin_state}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP plugboard_http_requests_total HTTP requests answered by this node."
    );
    let _ = writeln!(out, "# TYPE plugboard_http_requests_total counter");
    let _ = writeln!(
        out,
        "# HELP plugboard_http_request_seconds_total Time spent answering them."
    );
    let _ = writeln!(out, "# TYPE plugboard_http_request_seconds_total counter");
    {
        let requests = state
            .metrics
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((route, method, status), (count, seconds)) in requests.iter() {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            let _ = writeln!(out, "plugboard_http_requests_total{{{labels}}} {count}");
            let _ = writeln!(
                out,
                "plugboard_http_request_seconds_total{{{labels}}} {seconds}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP plugboard_log_streams Open job log streams on this node."
    );
    let _ = writeln!(out, "# TYPE plugboard_log_streams gauge");
    let _ = writeln!(
        out,
        "plugboard_log_streams {}",
        state.metrics.sse_open.load(Ordering::Relaxed)
    );
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
