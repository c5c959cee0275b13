//! Health probes. `/livez`: the process answers. `/readyz`: the store answers and this node's
//! worker pool is taking jobs (each queue's claim loop went round recently and has not stopped).
//! `/api/v1/health`: each check with its detail, the claim loops included, a `noop` job's round
//! trip through the queue and a worker (run at most once per 10 seconds, so probing cannot
//! flood the queue), and the protections of plugin processes on this node (`sandbox`, worked out
//! once at start).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::auth::Caller;
use super::AppState;
use crate::queue::{PoolStats, Queue};
use crate::store::{JobStatus, NewJob};

const PROBE_EVERY: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(super) struct HealthState {
    queue: Queue,
    probe_queue: String,
    sandbox: Arc<Value>,
    workers: Option<Arc<PoolStats>>,
    last_probe: Arc<Mutex<Option<(Instant, Value)>>>,
}

impl HealthState {
    pub(super) fn new(
        queue: Queue,
        probe_queue: String,
        sandbox: Value,
        workers: Option<Arc<PoolStats>>,
    ) -> HealthState {
        HealthState {
            queue,
            probe_queue,
            sandbox: Arc::new(sandbox),
            workers,
            last_probe: Arc::new(Mutex::new(None)),
        }
    }

    /// The claim loops' check: `ok` false with a `reason` when one is stuck or stopped. A
    /// server without a worker pool (none was handed over) has nothing to check.
    fn claim_loops(&self) -> Value {
        match &self.workers {
            Some(workers) => json!(workers.liveness()),
            None => {
                json!({"ok": true, "queues": [], "detail": "no worker pool runs in this server"})
            }
        }
    }
}

pub(super) async fn livez() -> &'static str {
    "ok\n"
}

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if let Err(error) = state.health.queue.store().ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: store unavailable: {error}\n"),
        );
    }
    if let Some(workers) = &state.health.workers {
        let liveness = workers.liveness();
        if let Some(reason) = liveness.reason {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: workers: {reason}\n"),
            );
        }
    }
    (StatusCode::OK, "ok\n".to_owned())
}

/// Every check with its detail: the store, the worker pool's claim loops (alive, stuck or
/// stopped, per queue), a `noop` job's round trip through a worker, and the protections of
/// plugin processes. `503` when one fails.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "get_health", tag = "health",
    responses(
        (status = 200, description = "Every check passed", body = Object),
        (status = 503, description = "A check failed; its detail says which", body = Object),
    ))]
pub(super) async fn health(
    State(state): State<AppState>,
    _caller: Caller,
) -> (StatusCode, Json<Value>) {
    let state = state.health;
    let store = state.queue.store();
    let started = Instant::now();
    let store_check = match store.server_version().await {
        Ok(version) => {
            json!({"ok": true, "backend": store.backend().as_str(), "version": version, "ms": started.elapsed().as_secs_f64() * 1000.0})
        }
        Err(error) => {
            json!({"ok": false, "backend": store.backend().as_str(), "error": error.to_string()})
        }
    };
    let counts = match store.job_counts().await {
        Ok(counts) => json!(counts),
        Err(error) => json!({"error": error.to_string()}),
    };
    let worker_check = {
        let mut last = state.last_probe.lock().await;
        match &*last {
            Some((at, result)) if at.elapsed() < PROBE_EVERY => result.clone(),
            _ => {
                let result = noop_round_trip(&state.queue, &state.probe_queue).await;
                *last = Some((Instant::now(), result.clone()));
                result
            }
        }
    };
    let sandbox_check = (*state.sandbox).clone();
    let claim_loops = state.claim_loops();
    let ok = store_check["ok"] == json!(true)
        && claim_loops["ok"] == json!(true)
        && worker_check["ok"] == json!(true)
        && sandbox_check["ok"] == json!(true);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"ok": ok, "checks": {"store": store_check, "claim_loops": claim_loops, "workers": worker_check, "sandbox": sandbox_check}, "jobs": counts}),
        ),
    )
}

async fn noop_round_trip(queue: &Queue, probe_queue: &str) -> Value {
    let started = Instant::now();
    let mut job = NewJob::new("noop", json!({}));
    job.priority = -1000;
    job.max_attempts = 1;
    job.queue = probe_queue.to_owned();
    let id = match queue.enqueue(job).await {
        Ok(enqueued) => enqueued.id,
        Err(error) => {
            return json!({"ok": false, "error": format!("cannot enqueue a noop job: {error}")})
        }
    };
    let mut notices = queue.store().subscribe();
    loop {
        match queue.get(id).await {
            Ok(job) if job.status == JobStatus::Succeeded => {
                return json!({"ok": true, "noop_round_trip_ms": started.elapsed().as_secs_f64() * 1000.0})
            }
            Ok(job) if job.status.is_finished() => {
                return json!({"ok": false, "error": format!("the noop health job {id} ended {}: {}", job.status, job.error.unwrap_or_default())})
            }
            Ok(_) => {}
            Err(error) => return json!({"ok": false, "error": error.to_string()}),
        }
        if started.elapsed() > PROBE_TIMEOUT {
            // Do not leave the probe behind in the queue.
            let _ = queue.cancel(id).await;
            return json!({"ok": false, "error": format!("the noop health job {id} did not finish within {} s: are the workers of queue `{probe_queue}` stuck or busy?", PROBE_TIMEOUT.as_secs())});
        }
        let _ = tokio::time::timeout(Duration::from_millis(20), notices.recv()).await;
    }
}
