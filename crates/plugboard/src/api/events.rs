//! `/api/v1/events`: post an event (recorded, then fanned out to one `plugin.run` job per
//! subscribed config) and list recorded events.
//!
//! A repeated `idempotency_key` of the same tenant answers the first event (`200`, `created`
//! false, no new jobs) instead of recording another. A tenant token posts and lists only its own
//! tenant's events.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::problem::{ApiError, JsonBody, PathParams, Problem, QueryParams};
use super::{time, AppState};
use crate::events::{EventError, PostEvent};
use crate::store::{EventFilter, EventRecord};

const MAX_PAGE: usize = 500;

/// A recorded event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    pub tenant: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub payload: Value,
    #[schema(required = true)]
    pub idempotency_key: Option<String>,
    /// Who raised it: `api`, `cli`, `plugin:<id>`.
    #[schema(required = true)]
    pub source: Option<String>,
    pub created_at: String,
    /// When its jobs were enqueued; `null` while the fan-out is pending.
    #[schema(required = true)]
    pub delivered_at: Option<String>,
    /// How many configs it reached.
    #[schema(required = true)]
    pub deliveries: Option<i64>,
}

impl From<EventRecord> for EventView {
    fn from(event: EventRecord) -> EventView {
        EventView {
            id: event.id,
            tenant: event.tenant,
            event_type: event.event_type,
            payload: event.payload,
            idempotency_key: event.idempotency_key,
            source: event.source,
            created_at: time::format(event.created_at),
            delivered_at: event.delivered_at.map(time::format),
            deliveries: event.deliveries,
        }
    }
}

/// `POST /api/v1/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEventBody {
    /// The event type (`form.submitted`): 1 to 128 letters, digits, `_ - . : /`.
    #[serde(rename = "type")]
    #[schema(pattern = "^[A-Za-z0-9_.:/-]{1,128}$")]
    pub event_type: String,
    /// The tenant it belongs to; a tenant token's own tenant by default.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub tenant: Option<String>,
    /// Given to every job it starts; default `{}`. Any JSON whose text holds no NUL character
    /// (U+0000).
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// A second post of the tenant with this key answers the first event and starts nothing:
    /// 1 to 256 characters.
    #[schema(min_length = 1, max_length = 256)]
    pub idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

/// The answer to a post.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostedEvent {
    pub event_id: i64,
    /// False when the idempotency key named an earlier event (which is answered).
    pub created: bool,
    /// How many jobs this post enqueued (0 for a repeat).
    pub jobs: usize,
    pub event: EventView,
}

/// Filters and paging of `GET /api/v1/events`, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListEvents {
    pub tenant: Option<String>,
    /// An exact event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Post an event: recorded before the answer, then one job per config subscribed to its type.
#[utoipa::path(post, path = "/api/v1/events", operation_id = "post_event", tag = "events", request_body = PostEventBody,
    responses(
        (status = 202, body = PostedEvent, description = "Recorded and fanned out"),
        (status = 200, body = PostedEvent, description = "The idempotency key named an earlier event; it is answered"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such tenant"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A malformed type or key"),
    ))]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<PostEventBody>,
) -> Result<(StatusCode, Json<PostedEvent>), ApiError> {
    caller.require_write()?;
    // A tenant token posts for its own tenant; a global one names the tenant.
    let tenant = caller
        .tenant_for(body.tenant, "post events")?
        .ok_or_else(|| {
            ApiError::Forbidden(
                "this token serves every tenant: name the event's tenant in `tenant`".to_owned(),
            )
        })?;
    let posted = state
        .events
        .post(PostEvent {
            tenant,
            event_type: body.event_type,
            payload: body.payload,
            idempotency_key: body.idempotency_key,
            source: Some("api".to_owned()),
        })
        .await
        .map_err(|error| match error {
            EventError::UnknownTenant(_) => ApiError::NotFound(error.to_string()),
            EventError::InvalidType(_) => ApiError::invalid_field("/type", error.to_string()),
            EventError::InvalidKey => {
                ApiError::invalid_field("/idempotency_key", error.to_string())
            }
            EventError::Store(error) => error.into(),
        })?;
    let event = state
        .queue
        .store()
        .event_get(posted.event_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("event {} vanished", posted.event_id)))?;
    let status = if posted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(PostedEvent {
            event_id: posted.event_id,
            created: posted.created,
            jobs: posted.jobs,
            event: event.into(),
        }),
    ))
}

/// List events, newest first.
#[utoipa::path(get, path = "/api/v1/events", operation_id = "list_events", tag = "events", params(ListEvents),
    responses(
        (status = 200, body = EventPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListEvents>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is out of range; use 1 to {MAX_PAGE}"),
        ));
    }
    let tenant = caller.tenant_for(query.tenant, "list events")?;
    let before_id = query
        .cursor
        .as_deref()
        .map(|cursor| {
            cursor.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                ApiError::invalid(
                    "cursor",
                    format!("`{cursor}` is not a cursor this API gave out; pass next_cursor as it came"),
                )
            })
        })
        .transpose()?;
    let events = state
        .queue
        .store()
        .event_list(EventFilter {
            tenant,
            event_type: query.event_type,
            before_id,
            limit,
            ..EventFilter::default()
        })
        .await?;
    let next_cursor = (events.len() == limit)
        .then(|| events.last().map(|event| event.id.to_string()))
        .flatten();
    Ok(Json(EventPage {
        events: events.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// Show an event.
#[utoipa::path(get, path = "/api/v1/events/{id}", operation_id = "get_event", tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    responses(
        (status = 200, body = EventView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{id}` is not an event id; event ids are positive integers"
        ))
    })?;
    let not_found = || ApiError::NotFound(format!("event {id} does not exist"));
    let event = state
        .queue
        .store()
        .event_get(id)
        .await?
        .ok_or_else(not_found)?;
    if !caller.can_see(Some(&event.tenant)) {
        return Err(not_found());
    }
    Ok(Json(event.into()))
}
