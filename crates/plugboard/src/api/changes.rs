//! Job changes: `GET /api/v1/jobs/changes` (every job a caller may see) and
//! `GET /api/v1/jobs/{id}/changes` (one job), as JSON pages, Server-Sent Events or WebSocket.
//!
//! Each change is the job in the state its latest change left it, with the change's position as
//! its `id`. A client that falls behind sees a job once in its latest state, never a state older
//! than one it saw; resuming from the last `id` (SSE `Last-Event-ID`, or `after`) neither skips
//! nor repeats a change, whichever node it reconnects to (see `store/changes.rs`).

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::jobs::{parse_id, visible_job, JobView};
use super::problem::{ApiError, PathParams, Problem, QueryParams};
use super::stream_slots::ClientAddress;
use super::streams::{render, StreamEvent, Transport};
use super::AppState;
use crate::queue::Queue;
use crate::store::{ChangeCursor, ChangeFilter, JobChange};

const MAX_PAGE: usize = 500;

/// Which changes to read, and from where.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListChanges {
    /// The `id` of the last change seen. Pages start from `0-0` by default (every job, then
    /// whatever changes); streams start from now by default.
    #[param(pattern = "^[0-9]{1,18}-[0-9]{1,18}$", example = "0-0")]
    pub after: Option<String>,
    pub tenant: Option<String>,
    pub plugin: Option<String>,
    pub queue: Option<String>,
    pub kind: Option<String>,
    /// Pages only: 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// Where to resume one job's changes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobChangesQuery {
    /// The `id` of the last change seen; default: from the job's current state.
    #[param(pattern = "^[0-9]{1,18}-[0-9]{1,18}$", example = "0-0")]
    pub after: Option<String>,
}

/// A job as its latest change left it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    /// The change's position: pass it as `after` (or `Last-Event-ID`) to resume after it.
    #[schema(example = "1042-7")]
    pub id: String,
    pub job: JobView,
}

/// A page of changes, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePage {
    pub changes: Vec<ChangeView>,
    /// Pass as `after` for the next page (the last change's `id`, or `after` itself when the
    /// page is empty).
    pub next_after: String,
}

fn view(change: &JobChange) -> ChangeView {
    ChangeView {
        id: change.cursor.to_string(),
        job: JobView::from(change.job.clone()),
    }
}

/// The position to resume after: `Last-Event-ID` first, then `after`.
fn resume_point(
    headers: &HeaderMap,
    after: Option<&str>,
) -> Result<Option<ChangeCursor>, ApiError> {
    let after = after
        .map(str::parse::<ChangeCursor>)
        .transpose()
        .map_err(|reason| ApiError::invalid("after", reason))?;
    // An empty Last-Event-ID is none: an event source that saw no id sends it so.
    match headers
        .get("last-event-id")
        .filter(|value| !value.is_empty())
    {
        Some(value) => value
            .to_str()
            .unwrap_or("")
            .parse::<ChangeCursor>()
            .map(Some)
            .map_err(|reason| ApiError::BadRequest(format!("Last-Event-ID: {reason}"))),
        None => Ok(after),
    }
}

/// Jobs as they change: a JSON page, or with `Accept: text/event-stream` (SSE) or a WebSocket
/// upgrade (subprotocol `plugboard.v1`) a live stream of `job` events, each with `id` = the
/// change's position. A tenant token sees its tenant's jobs only.
#[utoipa::path(get, path = "/api/v1/jobs/changes", operation_id = "list_job_changes", tag = "jobs",
    params(ListChanges,
        ("Last-Event-ID" = Option<String>, Header, description = "SSE: resume after this change (empty: from `after`)", pattern = "^([0-9]{1,18}-[0-9]{1,18})?$")),
    responses(
        (status = 200, body = ChangePage, description = "A page of changes (JSON), or a stream of `job` events with SSE or WebSocket"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "As many live streams are open as this token, client address or server may hold; retry after `Retry-After`"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddress,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    QueryParams(query): QueryParams<ListChanges>,
) -> Result<Response, ApiError> {
    let transport = Transport::of(&headers, upgrade)?;
    let resume = resume_point(&headers, query.after.as_deref())?;
    let tenant = caller.tenant_for(query.tenant, "follow jobs")?;
    let filter = ChangeFilter {
        job: None,
        tenant,
        plugin: query.plugin,
        queue: query.queue,
        kind: query.kind,
    };
    if transport.is_stream() {
        let slot = state.streams.open(&caller, &client.0)?;
        // "From now" is taken before the answer goes out: a change made after the client has
        // its answer is always in the stream.
        let from = match resume {
            Some(after) => after,
            None => state.queue.change_head().await?,
        };
        let queue = state.queue.clone();
        return Ok(transport.respond(&state, slot, move |sender| async move {
            // Where the stream starts, as a position: a client that drops before the first change
            // resumes from here (SSE clients do by themselves, it being the last event id).
            let start = StreamEvent::new("start", Some(from.to_string()), &serde_json::json!({}));
            if sender.send(start).await.is_ok() {
                stream(queue, filter, from, false, sender).await;
            }
        }));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is out of range; use 1 to {MAX_PAGE}"),
        ));
    }
    page(&state, resume.unwrap_or(ChangeCursor::START), filter, limit).await
}

/// A JSON page of the changes after `after`.
async fn page(
    state: &AppState,
    after: ChangeCursor,
    filter: ChangeFilter,
    limit: usize,
) -> Result<Response, ApiError> {
    let changes = state.queue.changes(after, filter, limit).await?;
    let next_after = changes
        .last()
        .map_or(after, |change| change.cursor)
        .to_string();
    Ok(Json(ChangePage {
        changes: changes.iter().map(view).collect(),
        next_after,
    })
    .into_response())
}

/// One job as it changes: a JSON page with its latest change, or a live stream (SSE or
/// WebSocket) of `job` events that starts with its current state and ends with an `end` event
/// once it reaches a finished status.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/changes", operation_id = "get_job_changes", tag = "jobs",
    params(("id" = i64, Path, description = "Job id", minimum = 1), JobChangesQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "SSE: resume after this change (empty: from `after`)", pattern = "^([0-9]{1,18}-[0-9]{1,18})?$")),
    responses(
        (status = 200, body = ChangePage, description = "The job's latest change (JSON), or a stream of `job` events with SSE or WebSocket"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "As many live streams are open as this token, client address or server may hold; retry after `Retry-After`"),
    ))]
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    client: ClientAddress,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    QueryParams(query): QueryParams<JobChangesQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let transport = Transport::of(&headers, upgrade)?;
    let resume = resume_point(&headers, query.after.as_deref())?;
    visible_job(&state, &caller, id).await?;
    let filter = ChangeFilter {
        job: Some(id),
        ..ChangeFilter::default()
    };
    let after = resume.unwrap_or(ChangeCursor::START);
    if transport.is_stream() {
        let slot = state.streams.open(&caller, &client.0)?;
        let queue = state.queue.clone();
        return Ok(transport.respond(&state, slot, move |sender| {
            stream(queue, filter, after, true, sender)
        }));
    }
    page(&state, after, filter, 1).await
}

/// Sends changes as `job` events; a stream of one job ends with `end` and the final status.
async fn stream(
    queue: Queue,
    filter: ChangeFilter,
    after: ChangeCursor,
    one_job: bool,
    sender: mpsc::Sender<StreamEvent>,
) {
    let filter_job = filter.job;
    let mut changes = queue.follow_changes(filter, after, one_job);
    let mut last_status = None;
    while let Some(change) = changes.recv().await {
        let event = match change {
            Ok(change) => {
                last_status = Some((change.job.status, change.job.error.clone()));
                // Rendered once per change for every stream of this node that sends it.
                let data = change.rendered(|change| render(&JobView::from(change.job.clone())));
                StreamEvent {
                    event: "job",
                    id: Some(change.cursor.to_string()),
                    data,
                }
            }
            Err(error) => StreamEvent::error(ApiError::from(error)),
        };
        if sender.send(event).await.is_err() {
            return;
        }
    }
    if !one_job {
        return;
    }
    // A stream resumed after the job's last change sent no change: its end says how it ended.
    let last_status = match (last_status, filter_job) {
        (Some(last), _) => Some(last),
        (None, Some(id)) => queue.get(id).await.ok().map(|job| (job.status, job.error)),
        (None, None) => None,
    };
    if let Some((status, error)) = last_status {
        if status.is_finished() {
            let _ = sender
                .send(StreamEvent::new(
                    "end",
                    None,
                    &serde_json::json!({"status": status.as_str(), "error": error}),
                ))
                .await;
        }
    }
}
