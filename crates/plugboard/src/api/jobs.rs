//! `/api/v1/jobs`: enqueue, list with filters and a cursor, show, cancel, retry, and logs as
//! JSON pages or a live Server-Sent Events stream.
//!
//! Paging: jobs come newest first and the cursor is the id of the last job of a page; the next
//! page holds jobs with smaller ids. Ids grow with insertion, so jobs added while a client pages
//! land before its first page and never shift the pages after it: nothing is skipped or repeated.
//!
//! Tenancy: a tenant token sees, cancels and retries only its tenant's jobs (another tenant's job
//! is answered 404, as if it did not exist) and enqueues only `plugin.run` jobs of its tenant.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::problem::{ApiError, JsonBody, PathParams, Problem, QueryParams};
use super::stream_slots::ClientAddress;
use super::streams::{StreamEvent, Transport};
use super::{time, AppState};
use crate::store::{
    CancelOutcome, Job, JobFilter, JobId, JobStatus, LogLine, NewJob, PayloadMatch,
};

/// The kind that tenant and non-admin tokens may enqueue.
const PLUGIN_RUN: &str = "plugin.run";
const MAX_PAGE: usize = 500;

/// A job as the API shows it; times are RFC 3339.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub queue: String,
    #[schema(required = true)]
    pub tenant: Option<String>,
    #[schema(required = true)]
    pub plugin: Option<String>,
    #[schema(required = true)]
    pub config: Option<String>,
    pub payload: Value,
    #[schema(inline, value_type = JobStatusName)]
    pub status: String,
    pub priority: i32,
    pub run_at: String,
    pub attempt: i32,
    pub max_attempts: i32,
    #[schema(required = true)]
    pub timeout_ms: Option<i64>,
    pub cancel_requested: bool,
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(required = true)]
    pub result: Option<Value>,
    #[schema(required = true)]
    pub progress: Option<Value>,
    #[schema(required = true)]
    pub unique_key: Option<String>,
    pub created_at: String,
    #[schema(required = true)]
    pub started_at: Option<String>,
    #[schema(required = true)]
    pub finished_at: Option<String>,
    /// Shown by `GET /api/v1/jobs/{id}` for a queued job that is due but held back by a tenant
    /// or plugin limit: one sentence per full limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub waiting_for: Option<Vec<String>>,
}

/// `202 Accepted` with the job that will do the work and its address in `Location`: the answer
/// of every endpoint that starts work as a job (plugin actions, a config's run now).
pub(super) fn accepted(job: Job) -> Response {
    let location = format!("/api/v1/jobs/{}", job.id);
    (
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location)],
        Json(JobView::from(job)),
    )
        .into_response()
}

impl From<Job> for JobView {
    fn from(job: Job) -> JobView {
        JobView {
            id: job.id.0,
            kind: job.kind,
            queue: job.queue,
            tenant: job.tenant,
            plugin: job.plugin,
            config: job.config,
            payload: job.payload,
            status: job.status.as_str().to_owned(),
            priority: job.priority,
            run_at: time::format(job.run_at),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            timeout_ms: job.timeout_ms,
            cancel_requested: job.cancel_requested,
            error: job.error,
            result: job.result,
            progress: job.progress,
            unique_key: job.unique_key,
            created_at: time::format(job.created_at),
            started_at: job.started_at.map(time::format),
            finished_at: job.finished_at.map(time::format),
            waiting_for: None,
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// A registered kind: `plugin.run` for any write token; built-in kinds (`noop`, the
    /// `plugin.*` admin kinds) for the admin token only.
    #[schema(
        pattern = "^(noop|plugin\\.(run|install|update|rollback|uninstall|enable|disable|refresh-metadata))$"
    )]
    pub kind: String,
    /// What the kind expects; default `{}`. Any JSON whose text holds no NUL character (U+0000).
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// 1 to 64 letters, digits, `_`, `-` or `.`; default `default`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub queue: Option<String>,
    /// Lower runs first; default 0.
    #[serde(default, deserialize_with = "super::integer::option")]
    pub priority: Option<i32>,
    /// RFC 3339; default now.
    #[schema(format = DateTime)]
    pub run_at: Option<String>,
    /// 1 to 1000; default 3.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::integer::option")]
    pub max_attempts: Option<i32>,
    /// Per attempt, in milliseconds; default the server's job timeout.
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "super::integer::option")]
    pub timeout_ms: Option<i64>,
    /// A second enqueue with the same key answers the first job (`200` instead of `201`): 1 to
    /// 512 characters.
    #[schema(min_length = 1, max_length = 512)]
    pub unique_key: Option<String>,
    /// The tenant the job belongs to; a tenant token's own tenant by default.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub tenant: Option<String>,
    /// With `plugin.run`: the id of a config (of the caller's tenant) to run with. The host fills
    /// the payload's `config` from the store and its `trigger` (`manual`), as a run now does; a
    /// payload that carries `config` or `trigger` itself is refused (422).
    #[schema(min_length = 1, max_length = 64)]
    pub config: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

/// Filters and paging of `GET /api/v1/jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListJobs {
    #[param(inline, value_type = Option<JobStatusName>)]
    pub status: Option<String>,
    pub kind: Option<String>,
    pub plugin: Option<String>,
    pub tenant: Option<String>,
    pub queue: Option<String>,
    /// RFC 3339: jobs created at or after.
    #[param(format = DateTime)]
    pub created_after: Option<String>,
    /// RFC 3339: jobs created before.
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// A JSON object: only jobs whose payload holds each of its values (strings, numbers,
    /// booleans, null) at the same place, e.g. `{"customer":{"id":42}}`. Objects nest at most 3 deep, each with 1 to 8 keys.
    pub payload: Option<String>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

/// A job's status.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used: the name of a status as the API writes it.
pub enum JobStatusName {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// A page of jobs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// How a cancel went.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum CancelOutcomeName {
    Cancelled,
    Requested,
    AlreadyFinished,
}

/// How severe a log line is.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum LogLevelName {
    Debug,
    Info,
    Warn,
    Error,
}

/// The answer to a cancel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelResult {
    /// `cancelled` (it was queued), `requested` (it is running and was told to stop) or
    /// `already_finished`.
    #[schema(inline, value_type = CancelOutcomeName)]
    pub outcome: String,
    pub job: JobView,
}

/// Paging of `GET /api/v1/jobs/{id}/logs` as JSON.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListLogs {
    /// Lines with a sequence number above this; default 0 (from the start).
    #[param(minimum = 0)]
    pub after_seq: Option<i64>,
    /// 1 to 1000; default 500.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// One log line.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogLineView {
    pub seq: i64,
    pub time: String,
    #[schema(inline, value_type = LogLevelName)]
    pub level: String,
    pub message: String,
}

impl From<LogLine> for LogLineView {
    fn from(line: LogLine) -> LogLineView {
        LogLineView {
            seq: line.seq,
            time: time::format(line.time),
            level: line.level.as_str().to_owned(),
            message: line.message,
        }
    }
}

/// A page of log lines.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    pub lines: Vec<LogLineView>,
    /// Pass as `after_seq` for the next page.
    pub next_after_seq: i64,
    /// The job's status when the page was read: once finished, no line follows the last.
    #[schema(inline, value_type = JobStatusName)]
    pub status: String,
}

pub(super) fn parse_id(text: &str) -> Result<JobId, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(JobId)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{text}` is not a job id; job ids are positive integers"
            ))
        })
}

/// Reads a job the caller may see; another tenant's job is "not found".
pub(super) async fn visible_job(
    state: &AppState,
    caller: &Caller,
    id: JobId,
) -> Result<Job, ApiError> {
    let job = state.queue.get(id).await?;
    if !caller.can_see(job.tenant.as_deref()) {
        return Err(ApiError::NotFound(format!("job {id} does not exist")));
    }
    Ok(job)
}

/// Enqueue a job.
#[utoipa::path(post, path = "/api/v1/jobs", operation_id = "create_job", tag = "jobs", request_body = CreateJob,
    responses(
        (status = 201, description = "Enqueued", body = JobView),
        (status = 200, description = "A job with this unique key exists; it is answered", body = JobView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "The config named does not exist"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The unique key is taken by a job of another tenant"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateJob>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    caller.require_write()?;
    let job = new_job(&state, &caller, body).await?;
    let enqueued = state.queue.enqueue(job).await?;
    let job = state.queue.get(enqueued.id).await?;
    if !caller.can_see(job.tenant.as_deref()) {
        // A unique key of another tenant's job: do not show that job.
        return Err(ApiError::Conflict(OTHER_TENANTS_KEY.to_owned()));
    }
    let status = if enqueued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(job.into())))
}

/// What a job refused for a unique key of another tenant's job is told.
const OTHER_TENANTS_KEY: &str =
    "a job with this unique_key exists in another tenant; choose another key";

/// The job a request describes, checked as the caller may enqueue it (not yet validated by the
/// queue).
async fn new_job(state: &AppState, caller: &Caller, body: CreateJob) -> Result<NewJob, ApiError> {
    if body.kind != PLUGIN_RUN {
        caller.require_admin().map_err(|_| {
            ApiError::Forbidden(format!(
                "only the admin token may enqueue `{}` jobs; API tokens enqueue `plugin.run`",
                body.kind
            ))
        })?;
    }
    let mut payload = body.payload;
    if let Some(tenant) = &body.tenant {
        crate::tenants::check_name("tenant id", tenant)
            .map_err(|error| ApiError::invalid_field("/tenant", error.to_string()))?;
    }
    let mut tenant = caller.tenant_for(body.tenant, "enqueue jobs")?;
    let mut job = None;
    if body.kind != PLUGIN_RUN {
        if body.config.is_some() {
            return Err(ApiError::invalid_field(
                "/config",
                format!(
                    "`config` names the config of a `plugin.run` job; a `{}` job has none",
                    body.kind
                ),
            ));
        }
    } else if let Some(config_id) = &body.config {
        // Another tenant's config is not there, as if it did not exist.
        let config = super::tenants::visible_config(state, caller, config_id).await?;
        if let Some(asked) = &tenant {
            if *asked != config.tenant {
                return Err(ApiError::invalid_field(
                    "/tenant",
                    format!(
                        "the job's tenant is `{asked}`, and config {config_id} is of tenant `{}`; leave `tenant` out or give `{}`",
                        config.tenant, config.tenant
                    ),
                ));
            }
        }
        tenant = Some(config.tenant.clone());
        job = Some(
            state
                .tenants
                .client_run(&config.id, &payload)
                .await
                .map_err(|error| super::tenants::tenant_error(error, &[]))?,
        );
    } else {
        // Only the host writes a run's config and trigger.
        crate::tenants::client_run::check_client_payload(&payload)
            .map_err(|error| super::tenants::tenant_error(error, &[]))?;
    }
    if body.kind == PLUGIN_RUN && job.is_none() {
        // The plugin learns its tenant from the payload: it must agree with the job's.
        match (payload.get("tenant").and_then(Value::as_str), &tenant) {
            (Some(in_payload), Some(tenant)) if in_payload != tenant => {
                return Err(ApiError::invalid(
                    "/payload/tenant",
                    format!("`{in_payload}` differs from the job's tenant `{tenant}`"),
                ))
            }
            (Some(in_payload), None) if caller.tenant().is_some() => {
                return Err(ApiError::invalid(
                    "/payload/tenant",
                    format!("`{in_payload}` is not this token's tenant"),
                ))
            }
            (None, Some(tenant)) => {
                if let Some(object) = payload.as_object_mut() {
                    object.insert("tenant".to_owned(), json!(tenant));
                }
            }
            _ => {}
        }
    }
    let mut job = job.unwrap_or_else(|| NewJob::new(body.kind, payload));
    job.tenant = tenant;
    if let Some(queue) = body.queue {
        job.queue = queue;
    }
    if let Some(priority) = body.priority {
        job.priority = priority;
    }
    if let Some(run_at) = body.run_at {
        job.run_at =
            Some(time::parse(&run_at).map_err(|reason| ApiError::invalid("/run_at", reason))?);
    }
    if let Some(max_attempts) = body.max_attempts {
        job.max_attempts = max_attempts;
    }
    job.timeout_ms = body.timeout_ms;
    job.unique_key = body.unique_key;
    Ok(job)
}

/// The most jobs one batch holds.
const MAX_BATCH: usize = 5000;

/// `POST /api/v1/jobs/batch`: many jobs in one transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJobs {
    /// 1 to 5000 jobs, each as `POST /api/v1/jobs` takes one.
    #[schema(min_items = 1, max_items = 5000)]
    pub jobs: Vec<CreateJob>,
}

/// What became of one job of a batch, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchedJob {
    /// The job's id: the new job's, or the existing one's that has the same unique key; `null`
    /// when that job is another tenant's.
    #[schema(required = true)]
    pub id: Option<i64>,
    /// False when a job with the same unique key existed (and nothing was added for this one).
    pub created: bool,
    /// Why nothing was added and no job is named: only for a unique key of another tenant's job.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub jobs: Vec<BatchedJob>,
    /// How many jobs were added.
    pub created: usize,
}

/// How many jobs of a batch weigh as much as one request in the token's rate limit (beyond the
/// request itself): a job stored in a batch costs the server about a fiftieth of a request of
/// its own (docs/benchmarks.md: bulk enqueue against one-by-one over HTTP).
const BATCH_JOBS_PER_REQUEST: f64 = 50.0;

/// Enqueue many jobs at once: every job is checked as `POST /api/v1/jobs` checks it, then all
/// are stored in one transaction, or none when one is refused (the problem's pointers start
/// with `/jobs/N`). A job whose unique key exists answers the existing job's id with
/// `created: false`, as a single enqueue does.
#[utoipa::path(post, path = "/api/v1/jobs/batch", operation_id = "create_jobs", tag = "jobs", request_body = CreateJobs,
    responses(
        (status = 200, description = "Every job is stored or existed", body = BatchResult),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "A config named does not exist"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "The body is larger than `api_body_limit_kb`"),
    ))]
pub async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateJobs>,
) -> Result<Json<BatchResult>, ApiError> {
    caller.require_write()?;
    if body.jobs.is_empty() || body.jobs.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "/jobs",
            format!(
                "holds {} jobs; send 1 to {MAX_BATCH} in one batch",
                body.jobs.len()
            ),
        ));
    }
    // Weighed by its size, so the token's rate limit still means something.
    state.limits.per_token.charge(
        caller.label(),
        body.jobs.len() as f64 / BATCH_JOBS_PER_REQUEST,
    );
    let mut jobs = Vec::with_capacity(body.jobs.len());
    for (index, job) in body.jobs.into_iter().enumerate() {
        let place = |error: ApiError| error.within(&format!("/jobs/{index}"));
        let job = new_job(&state, &caller, job).await.map_err(place)?;
        state
            .queue
            .check(&job)
            .map_err(|error| place(error.into()))?;
        jobs.push(job);
    }
    let enqueued = state.queue.enqueue_many(jobs).await?;
    let mut answer = Vec::with_capacity(enqueued.len());
    for each in &enqueued {
        // A token of every tenant sees every job; a tenant token only its tenant's, which an
        // existing job of the same key may not be.
        let visible = each.created
            || caller.tenant().is_none()
            || caller.can_see(state.queue.get(each.id).await?.tenant.as_deref());
        answer.push(if visible {
            BatchedJob {
                id: Some(each.id.0),
                created: each.created,
                error: None,
            }
        } else {
            BatchedJob {
                id: None,
                created: false,
                error: Some(OTHER_TENANTS_KEY.to_owned()),
            }
        });
    }
    Ok(Json(BatchResult {
        created: enqueued.iter().filter(|each| each.created).count(),
        jobs: answer,
    }))
}

/// List jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", operation_id = "list_jobs", tag = "jobs", params(ListJobs),
    responses(
        (status = 200, body = JobPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListJobs>,
) -> Result<Json<JobPage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is out of range; use 1 to {MAX_PAGE}"),
        ));
    }
    let status = query
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|reason| ApiError::invalid("status", reason))?;
    let tenant = caller.tenant_for(query.tenant, "list jobs")?;
    let before_id = query
        .cursor
        .as_deref()
        .map(|cursor| {
            cursor
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(JobId)
                .ok_or_else(|| {
                    ApiError::invalid("cursor", format!("`{cursor}` is not a cursor this API gave out; pass next_cursor as it came"))
                })
        })
        .transpose()?;
    let created_after = query
        .created_after
        .as_deref()
        .map(time::parse)
        .transpose()
        .map_err(|reason| ApiError::invalid("created_after", reason))?;
    let created_before = query
        .created_before
        .as_deref()
        .map(time::parse)
        .transpose()
        .map_err(|reason| ApiError::invalid("created_before", reason))?;
    let payload = query
        .payload
        .as_deref()
        .map(payload_matches)
        .transpose()?
        .unwrap_or_default();
    let jobs = state
        .queue
        .list(JobFilter {
            status,
            kind: query.kind,
            queue: query.queue,
            tenant,
            plugin: query.plugin,
            before_id,
            created_after,
            created_before,
            payload,
            limit,
        })
        .await?;
    let next_cursor = (jobs.len() == limit)
        .then(|| jobs.last().map(|job| job.id.0.to_string()))
        .flatten();
    Ok(Json(JobPage {
        jobs: jobs.into_iter().map(JobView::from).collect(),
        next_cursor,
    }))
}

/// The most keys of one object of a payload filter, and how deep its objects nest: the
/// document's `payload` schema says the same (`openapi.rs`).
const MAX_FILTER_KEYS: usize = 8;
const MAX_FILTER_DEPTH: usize = 3;

/// The `payload` filter as the values it asks for, each at its path.
fn payload_matches(text: &str) -> Result<Vec<PayloadMatch>, ApiError> {
    let invalid = |reason: String| ApiError::invalid("payload", reason);
    let filter: Value = serde_json::from_str(text).map_err(|error| {
        invalid(format!(
            "is not JSON ({error}); give an object such as {{\"customer\":{{\"id\":42}}}}"
        ))
    })?;
    if !filter.is_object() {
        return Err(invalid(
            "must be a JSON object such as {\"customer\":{\"id\":42}}".to_owned(),
        ));
    }
    let mut matches = Vec::new();
    let mut pending = vec![(Vec::<String>::new(), filter)];
    while let Some((path, value)) = pending.pop() {
        match value {
            Value::Object(fields) => {
                let place = if path.is_empty() {
                    "the filter".to_owned()
                } else {
                    format!("`{}`", path.join("."))
                };
                if fields.is_empty() {
                    return Err(invalid(format!(
                        "{place} is an empty object; name a value inside it, as in {{\"customer\":{{\"id\":42}}}}"
                    )));
                }
                if fields.len() > MAX_FILTER_KEYS {
                    return Err(invalid(format!(
                        "{place} has {} keys; an object of a filter has at most {MAX_FILTER_KEYS}",
                        fields.len()
                    )));
                }
                if path.len() == MAX_FILTER_DEPTH {
                    return Err(invalid(format!(
                        "{place} is an object nested {} deep; a filter's objects nest at most {MAX_FILTER_DEPTH} deep",
                        MAX_FILTER_DEPTH + 1
                    )));
                }
                for (key, value) in fields {
                    if key.is_empty() || key.chars().any(|c| c == '"' || c.is_control()) {
                        return Err(invalid(format!(
                            "the key {key:?} cannot be matched; keys are non-empty, without quotes or control characters"
                        )));
                    }
                    let mut inner = path.clone();
                    inner.push(key);
                    pending.push((inner, value));
                }
            }
            Value::Array(_) => {
                return Err(invalid(format!(
                    "`{}` is an array; match strings, numbers, booleans or null",
                    path.join(".")
                )))
            }
            value => matches.push(PayloadMatch { path, value }),
        }
    }
    matches.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(matches)
}

/// Show a job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", operation_id = "get_job", tag = "jobs",
    params(("id" = i64, Path, description = "Job id", minimum = 1)),
    responses(
        (status = 200, body = JobView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    let job = visible_job(&state, &caller, id).await?;
    let waiting = state.queue.waiting(&job).await?;
    let mut view = JobView::from(job);
    view.waiting_for = waiting.map(|waiting| waiting.reasons);
    Ok(Json(view))
}

/// Cancel a job: at once when queued; a running job is told to stop.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", operation_id = "cancel_job", tag = "jobs",
    params(("id" = i64, Path, description = "Job id", minimum = 1)),
    responses(
        (status = 200, body = CancelResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<CancelResult>, ApiError> {
    let id = parse_id(&id)?;
    caller.require_write()?;
    visible_job(&state, &caller, id).await?;
    let outcome = match state.queue.cancel(id).await? {
        CancelOutcome::Cancelled => "cancelled",
        CancelOutcome::Requested => "requested",
        CancelOutcome::AlreadyFinished(_) => "already_finished",
        CancelOutcome::NotFound => {
            return Err(ApiError::NotFound(format!("job {id} does not exist")))
        }
    };
    let job = state.queue.get(id).await?;
    Ok(Json(CancelResult {
        outcome: outcome.to_owned(),
        job: job.into(),
    }))
}

/// Put a failed or cancelled job back in the queue with fresh attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", operation_id = "retry_job", tag = "jobs",
    params(("id" = i64, Path, description = "Job id", minimum = 1)),
    responses(
        (status = 200, body = JobView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    caller.require_write()?;
    visible_job(&state, &caller, id).await?;
    Ok(Json(state.queue.retry(id).await?.into()))
}

/// The most jobs one bulk cancel or retry names.
const MAX_BULK: usize = 1000;

/// `POST /api/v1/jobs/cancel` and `POST /api/v1/jobs/retry`: the jobs to act on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkIds {
    /// 1 to 1000 job ids; each is acted on once, in the order given.
    #[schema(min_items = 1, max_items = 1000)]
    #[serde(deserialize_with = "super::integer::list")]
    pub ids: Vec<i64>,
}

/// What happened to each job of a bulk action, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub results: Vec<BulkOutcome>,
}

/// One job's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkOutcome {
    pub id: i64,
    /// Cancel: `cancelled`, `requested`, `already_finished` or `not_found`. Retry: `retried`,
    /// `not_retryable` (it is not failed or cancelled) or `not_found`.
    pub outcome: String,
    /// The job's status afterwards; absent when it was not found.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<String>,
}

impl BulkOutcome {
    fn new(id: JobId, outcome: &str, status: Option<JobStatus>) -> BulkOutcome {
        BulkOutcome {
            id: id.0,
            outcome: outcome.to_owned(),
            status: status.map(|status| status.as_str().to_owned()),
        }
    }
}

/// The ids of a bulk request, checked and without repeats.
fn bulk_ids(body: BulkIds) -> Result<Vec<JobId>, ApiError> {
    if body.ids.is_empty() || body.ids.len() > MAX_BULK {
        return Err(ApiError::invalid(
            "/ids",
            format!("give 1 to {MAX_BULK} job ids, not {}", body.ids.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::with_capacity(body.ids.len());
    for (index, id) in body.ids.into_iter().enumerate() {
        if id <= 0 {
            return Err(ApiError::invalid(
                format!("/ids/{index}"),
                format!("{id} is not a job id; job ids are positive integers"),
            ));
        }
        if seen.insert(id) {
            ids.push(JobId(id));
        }
    }
    Ok(ids)
}

/// Runs `action` on every job the caller may see, 32 at a time (the store commits concurrent
/// writes together), answering in the order of the ids; a job it may not see is `not_found`,
/// as a missing one.
async fn for_each_visible_job<F, Fut>(
    state: &AppState,
    caller: &Caller,
    ids: Vec<JobId>,
    action: F,
) -> Result<BulkResult, ApiError>
where
    F: Fn(JobId) -> Fut,
    Fut: std::future::Future<Output = Result<BulkOutcome, ApiError>>,
{
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let action = &action;
    let results = stream::iter(ids.into_iter().map(|id| async move {
        match visible_job(state, caller, id).await {
            Ok(_) => action(id).await,
            Err(ApiError::NotFound(_)) => Ok(BulkOutcome::new(id, "not_found", None)),
            Err(other) => Err(other),
        }
    }))
    .buffered(32)
    .try_collect()
    .await?;
    Ok(BulkResult { results })
}

/// Cancel many jobs: the queued ones at once, the running ones are told to stop.
#[utoipa::path(post, path = "/api/v1/jobs/cancel", operation_id = "cancel_jobs", tag = "jobs", request_body = BulkIds,
    responses(
        (status = 200, body = BulkResult),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_many(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BulkIds>,
) -> Result<Json<BulkResult>, ApiError> {
    caller.require_write()?;
    let ids = bulk_ids(body)?;
    let result = for_each_visible_job(&state, &caller, ids, |id| {
        let state = &state;
        async move {
            Ok(match state.queue.cancel(id).await? {
                CancelOutcome::Cancelled => {
                    BulkOutcome::new(id, "cancelled", Some(JobStatus::Cancelled))
                }
                CancelOutcome::Requested => {
                    BulkOutcome::new(id, "requested", Some(JobStatus::Running))
                }
                CancelOutcome::AlreadyFinished(status) => {
                    BulkOutcome::new(id, "already_finished", Some(status))
                }
                CancelOutcome::NotFound => BulkOutcome::new(id, "not_found", None),
            })
        }
    })
    .await?;
    Ok(Json(result))
}

/// Put many failed or cancelled jobs back in the queue with fresh attempts.
#[utoipa::path(post, path = "/api/v1/jobs/retry", operation_id = "retry_jobs", tag = "jobs", request_body = BulkIds,
    responses(
        (status = 200, body = BulkResult),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_many(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BulkIds>,
) -> Result<Json<BulkResult>, ApiError> {
    caller.require_write()?;
    let ids = bulk_ids(body)?;
    let result = for_each_visible_job(&state, &caller, ids, |id| {
        let state = &state;
        async move {
            Ok(match state.queue.retry(id).await {
                Ok(job) => BulkOutcome::new(id, "retried", Some(job.status)),
                Err(crate::queue::QueueError::NotRetryable { status, .. }) => {
                    BulkOutcome::new(id, "not_retryable", Some(status))
                }
                Err(crate::queue::QueueError::NotFound(_)) => {
                    BulkOutcome::new(id, "not_found", None)
                }
                Err(other) => return Err(other.into()),
            })
        }
    })
    .await?;
    Ok(Json(result))
}

/// A job's log: a JSON page, or with `Accept: text/event-stream` a live stream of `log` events
/// (each with `id` = its sequence number; reconnect with `Last-Event-ID` to resume after it),
/// ending with one `end` event carrying the job's final status.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/logs", operation_id = "get_job_logs", tag = "jobs",
    params(("id" = i64, Path, description = "Job id", minimum = 1), ListLogs,
        ("Last-Event-ID" = Option<String>, Header, description = "SSE: resume after this sequence number (empty: from `after_seq`)", pattern = "^[0-9]{0,18}$")),
    responses(
        (status = 200, body = LogPage, description = "A page of lines (JSON), or an SSE stream with `Accept: text/event-stream`"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "As many live streams are open as this token, client address or server may hold; retry after `Retry-After`"),
    ))]
pub async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddress,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    QueryParams(query): QueryParams<ListLogs>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let job = visible_job(&state, &caller, id).await?;
    let after_seq = query.after_seq.unwrap_or(0);
    if after_seq < 0 {
        return Err(ApiError::invalid("after_seq", "must be 0 or more"));
    }
    // An empty Last-Event-ID is none: an event source that saw no id sends it so.
    let last_event_id = match headers
        .get("last-event-id")
        .filter(|value| !value.is_empty())
    {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "Last-Event-ID must be the id of a log event (a sequence number)"
                            .to_owned(),
                    )
                })?,
        ),
        None => None,
    };
    let transport = Transport::of(&headers, upgrade)?;
    if transport.is_stream() {
        let slot = state.streams.open(&caller, &client.0)?;
        let resume = last_event_id.unwrap_or(after_seq);
        let queue = state.queue.clone();
        return Ok(transport.respond(&state, slot, move |sender| {
            log_stream(queue, id, resume, sender)
        }));
    }
    let limit = query.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is out of range; use 1 to 1000"),
        ));
    }
    let lines = state.queue.logs(id, after_seq, limit).await?;
    let next_after_seq = lines.last().map(|line| line.seq).unwrap_or(after_seq);
    Ok(Json(LogPage {
        lines: lines.into_iter().map(LogLineView::from).collect(),
        next_after_seq,
        status: job.status.as_str().to_owned(),
    })
    .into_response())
}

/// A job's log lines from `after_seq` on, then one `end` event with its final status.
async fn log_stream(
    queue: crate::queue::Queue,
    id: JobId,
    after_seq: i64,
    sender: tokio::sync::mpsc::Sender<StreamEvent>,
) {
    let mut lines = queue.follow_logs(id, after_seq);
    while let Some(line) = lines.recv().await {
        let event = match line {
            Ok(line) => {
                StreamEvent::new("log", Some(line.seq.to_string()), &LogLineView::from(line))
            }
            Err(error) => StreamEvent::error(ApiError::from(error)),
        };
        if sender.send(event).await.is_err() {
            return;
        }
    }
    // follow_logs ends once the job finished and its last line was sent.
    let end = match queue.get(id).await {
        Ok(job) => json!({"status": job.status.as_str(), "error": job.error}),
        Err(error) => json!({"status": null, "error": error.to_string()}),
    };
    let _ = sender.send(StreamEvent::new("end", None, &end)).await;
}
