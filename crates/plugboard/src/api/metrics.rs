//! `/metrics` in the Prometheus text format: jobs by queue and status and by kind and status
//! (from the store, so every node reports the whole queue), installed plugins by state, and this
//! node's own: run durations of the jobs it finished (a histogram by kind and outcome), its
//! plugin processes by state and their restarts, HTTP requests by route, method and status with
//! their total duration, and open log streams.
//!
//! Labels stay bounded: a kind this node's registry does not know counts as `other`, plugins are
//! the ones loaded here, routes are the matched templates. Job ids and tenants are never labels.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::problem::ApiError;
use super::AppState;

/// A series of requests: route, method and status.
type RequestKey = (String, String, u16);

/// Counters of this node's HTTP traffic.
#[derive(Default)]
pub struct HttpMetrics {
    /// Per series: how many, and the seconds they took.
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
    /// Requests to plugin routes, per plugin, declared route, method and status.
    plugin_routes: Mutex<BTreeMap<PluginRouteKey, (u64, f64)>>,
    sse_open: AtomicI64,
}

/// A series of plugin route requests: plugin, declared route, method and status.
type PluginRouteKey = (String, String, String, u16);

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

    /// Counts a request to a route of a plugin loaded here (only those: labels stay bounded).
    pub(super) fn record_plugin_route(
        &self,
        plugin: String,
        route: String,
        method: String,
        status: u16,
        seconds: f64,
    ) {
        let mut requests = self
            .plugin_routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = requests.entry((plugin, route, method, status)).or_default();
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
    let method = method_label(request.method()).to_owned();
    let mut response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    state
        .metrics
        .record(route, method, response.status().as_u16(), seconds);
    // The same time for the client (browsers show it beside each request, the console's
    // benchmark reads it): until the answer's head, not a streamed body's end.
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={:.2}", seconds * 1000.0)) {
        response.headers_mut().append(SERVER_TIMING, value);
    }
    response
}

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The method as a label: the standard ones by name, anything else `OTHER` (a client may send
/// any token as a method, and labels must stay bounded).
pub(super) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Metrics in the Prometheus text format (version 0.0.4).
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
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
    write_kinds(&mut out, &state, store.job_counts_by_kind().await?);
    if let Some(workers) = &state.local.workers {
        write_run_seconds(&mut out, workers);
    }
    if let Some(local_plugins) = &state.local.plugins {
        write_local_plugins(&mut out, &local_plugins.plugins());
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
        "# HELP plugboard_plugin_route_requests_total Requests to plugin routes answered by this node, by plugin and declared route."
    );
    let _ = writeln!(out, "# TYPE plugboard_plugin_route_requests_total counter");
    let _ = writeln!(
        out,
        "# HELP plugboard_plugin_route_request_seconds_total Time spent answering them, the plugin's time included."
    );
    let _ = writeln!(
        out,
        "# TYPE plugboard_plugin_route_request_seconds_total counter"
    );
    {
        let requests = state
            .metrics
            .plugin_routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((plugin, route, method, status), (count, seconds)) in requests.iter() {
            let labels = format!(
                "plugin=\"{}\",route=\"{}\",method=\"{}\",status=\"{status}\"",
                escape(plugin),
                escape(route),
                escape(method)
            );
            let _ = writeln!(
                out,
                "plugboard_plugin_route_requests_total{{{labels}}} {count}"
            );
            let _ = writeln!(
                out,
                "plugboard_plugin_route_request_seconds_total{{{labels}}} {seconds}"
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

fn write_kinds(out: &mut String, state: &AppState, counts: Vec<crate::store::JobKindCount>) {
    let known = state.queue.registry().kinds();
    let mut by_kind: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for count in &counts {
        let kind = known
            .iter()
            .find(|kind| **kind == count.kind)
            .copied()
            .unwrap_or(crate::queue::OTHER_KIND);
        *by_kind.entry((kind, count.status.to_string())).or_default() += count.count;
    }
    let _ = writeln!(
        out,
        "# HELP plugboard_jobs_by_kind Jobs in the store by kind and status (kinds this node does not run count as other)."
    );
    let _ = writeln!(out, "# TYPE plugboard_jobs_by_kind gauge");
    for ((kind, status), count) in by_kind {
        let _ = writeln!(
            out,
            "plugboard_jobs_by_kind{{kind=\"{}\",status=\"{status}\"}} {count}",
            escape(kind)
        );
    }
}

fn write_run_seconds(out: &mut String, workers: &crate::queue::PoolStats) {
    let _ = writeln!(
        out,
        "# HELP plugboard_job_run_seconds How long the attempts this node finished ran, by kind and outcome."
    );
    let _ = writeln!(out, "# TYPE plugboard_job_run_seconds histogram");
    for ((kind, outcome), histogram) in workers.runs() {
        let labels = format!("kind=\"{}\",outcome=\"{outcome}\"", escape(&kind));
        for (bound, count) in crate::queue::RUN_SECONDS_BUCKETS
            .iter()
            .zip(&histogram.buckets)
        {
            let _ = writeln!(
                out,
                "plugboard_job_run_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "plugboard_job_run_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(
            out,
            "plugboard_job_run_seconds_sum{{{labels}}} {}",
            histogram.sum_seconds
        );
        let _ = writeln!(
            out,
            "plugboard_job_run_seconds_count{{{labels}}} {}",
            histogram.count
        );
    }
}

fn write_local_plugins(out: &mut String, plugins: &[super::LocalPlugin]) {
    let _ = writeln!(
        out,
        "# HELP plugboard_plugin_instances This node's plugin processes by plugin and state."
    );
    let _ = writeln!(out, "# TYPE plugboard_plugin_instances gauge");
    for plugin in plugins {
        for (instance_state, count) in &plugin.instances {
            let _ = writeln!(
                out,
                "plugboard_plugin_instances{{plugin=\"{}\",state=\"{instance_state}\"}} {count}",
                escape(&plugin.id)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP plugboard_plugin_restarts_total Plugin processes this node started again after one ended (since the plugin's version was loaded)."
    );
    let _ = writeln!(out, "# TYPE plugboard_plugin_restarts_total counter");
    for plugin in plugins {
        let _ = writeln!(
            out,
            "plugboard_plugin_restarts_total{{plugin=\"{}\"}} {}",
            escape(&plugin.id),
            plugin.restarts
        );
    }
}
