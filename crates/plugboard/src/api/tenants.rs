//! `/api/v1/tenants` and `/api/v1/configs`: tenants, their plugin configs, manual runs, checks
//! and the next fires of a schedule, all through the `Tenants` facade.
//!
//! Tenancy: the admin token and global tokens see every tenant; a tenant token sees only its own
//! tenant and its configs (anything else answers 404, as if it did not exist). Creating and
//! deleting tenants needs the admin token or a global write token; configs are written by any
//! write token that reaches their tenant.
//!
//! Config values are checked against the plugin's config schema (from the metadata it reported,
//! cached in the store); a violation answers 422 with one `errors` entry per failing JSON
//! pointer, under `/values`. Secret fields are never answered: reads show `********`, and a
//! secret sent as `********` or left out keeps its stored value.

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::jobs::JobView;
use super::problem::{ApiError, FieldError, JsonBody, PathParams, Problem, QueryParams};
use super::{time, AppState};
use crate::schedule::{ScheduleError, ScheduleSpec};
use crate::store::{Config, ConfigFilter, Tenant, Timestamp};
use crate::tenants::{ConfigRequest, ConfigView, TenantError};

const MAX_FIRES: usize = 100;

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<Tenant> for TenantView {
    fn from(tenant: Tenant) -> TenantView {
        TenantView {
            id: tenant.id,
            name: tenant.name,
            created_at: time::format(tenant.created_at),
        }
    }
}

/// Tenants the caller can see.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
}

/// `POST /api/v1/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 1 to 64 letters, digits, `_`, `-` or `.`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub id: String,
    /// A display name; default the id.
    pub name: Option<String>,
}

/// A config as the API shows it: secret fields are `********`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigBody {
    pub id: String,
    pub tenant: String,
    pub plugin: String,
    pub name: String,
    /// The values, secrets replaced by `********`.
    pub values: Value,
    pub enabled: bool,
    /// `{"cron": "0 9 * * MON-FRI", "timezone": "Europe/Berlin"}` or
    /// `{"interval_seconds": 300}`, with optional `jitter_seconds`, `start`, `end`, `paused`,
    /// `misfire`, `overlap`.
    #[schema(required = true)]
    pub schedule: Option<Value>,
    /// Event type patterns (`form.submitted`, `form.*`).
    pub events: Vec<String>,
    /// Set when the plugin's current schema rejects the values: the config does not run.
    #[schema(required = true)]
    pub invalid_reason: Option<String>,
    #[schema(required = true)]
    pub last_fire_at: Option<String>,
    #[schema(required = true)]
    pub next_fire_at: Option<String>,
    /// The next fire times (up to 5).
    pub next_fires: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ConfigView> for ConfigBody {
    fn from(view: ConfigView) -> ConfigBody {
        let config = view.config;
        ConfigBody {
            id: config.id,
            tenant: config.tenant,
            plugin: config.plugin,
            name: config.name,
            values: config.values,
            enabled: config.enabled,
            schedule: config.schedule,
            events: config.events,
            invalid_reason: config.invalid_reason,
            last_fire_at: config.last_fire_at.map(time::format),
            next_fire_at: config.next_fire_at.map(time::format),
            next_fires: view.next_fires,
            created_at: time::format(config.created_at),
            updated_at: time::format(config.updated_at),
        }
    }
}

/// Configs of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigList {
    pub configs: Vec<ConfigBody>,
}

/// `POST /api/v1/tenants/{tenant}/configs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConfig {
    /// The plugin's id; it must have reported its config schema.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub plugin: String,
    /// Unique per tenant and plugin: 1 to 64 letters, digits, `_`, `-` or `.`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub name: String,
    /// Checked against the plugin's config schema; default `{}`.
    #[serde(default = "empty_object")]
    pub values: Value,
    /// `{"cron": "…", "timezone": "…"}` or `{"interval_seconds": N}`; absent: the plugin's
    /// default schedule (its metadata's `schedule`), if it has one; `null`: no schedule.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Value>,
    /// Event type patterns to subscribe to; default none.
    #[serde(default)]
    pub events: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// `PUT /api/v1/configs/{id}`: replaces the config's values, schedule, events and enabled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceConfig {
    /// The new values; a secret field sent as `********` or left out keeps its stored value.
    #[serde(default = "empty_object")]
    pub values: Value,
    /// Absent or null: no schedule.
    pub schedule: Option<Value>,
    /// Default none.
    #[serde(default)]
    pub events: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

fn empty_object() -> Value {
    json!({})
}

/// The result of checking a stored config again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationResult {
    pub valid: bool,
    /// Each problem, as `<JSON pointer>: <what is wrong>` (pointers into the values), or
    /// `schedule: …`.
    pub problems: Vec<String>,
}

/// `GET /api/v1/configs/{id}/next-fires`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NextFiresQuery {
    /// 1 to 100; default 5.
    #[param(minimum = 1, maximum = 100)]
    pub count: Option<usize>,
}

/// The next fire times of a config's schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextFires {
    pub config: String,
    /// RFC 3339; empty when the config has no schedule or is disabled, invalid or paused.
    pub fires: Vec<String>,
}

/// Turns a facade error into a problem; `events` are the request's patterns, to point at the
/// bad one.
pub(super) fn tenant_error(error: TenantError, events: &[String]) -> ApiError {
    match error {
        TenantError::InvalidName { what, .. } => {
            let pointer = match what {
                "tenant id" => "/id",
                "plugin id" => "/plugin",
                _ => "/name",
            };
            ApiError::invalid_field(pointer, error.to_string())
        }
        TenantError::UnknownTenant(_)
        | TenantError::UnknownConfig { .. }
        | TenantError::UnknownConfigId(_) => ApiError::NotFound(error.to_string()),
        TenantError::TenantExists(_)
        | TenantError::ConfigInvalid { .. }
        | TenantError::ConfigExists { .. } => ApiError::Conflict(error.to_string()),
        TenantError::NoMetadata(_) => ApiError::invalid_field("/plugin", error.to_string()),
        TenantError::UnknownPlugin(_) => ApiError::invalid_field("/plugin", error.to_string()),
        TenantError::BadSchema { .. } => ApiError::Conflict(error.to_string()),
        TenantError::PluginCheckFailed { .. } => ApiError::PluginError(error.to_string()),
        TenantError::SchemaRejects {
            ref plugin,
            ref problems,
        }
        | TenantError::PluginRejects {
            ref plugin,
            ref problems,
        } => ApiError::Invalid {
            detail: if matches!(error, TenantError::SchemaRejects { .. }) {
                format!(
                    "the values do not match plugin {plugin}'s config schema: {}",
                    problems.join("; ")
                )
            } else {
                format!(
                    "plugin {plugin} rejects the values (its config/validate): {}",
                    problems.join("; ")
                )
            },
            errors: problems
                .iter()
                .map(|problem| {
                    let (path, detail) = problem.split_once(": ").unwrap_or(("/", problem));
                    let path = if path == "/" { "" } else { path };
                    FieldError {
                        pointer: format!("/values{path}"),
                        detail: detail.to_owned(),
                    }
                })
                .collect(),
        },
        TenantError::EventPattern { ref pattern, .. } => {
            let index = events
                .iter()
                .position(|event| event == pattern)
                .unwrap_or(0);
            ApiError::invalid_field(format!("/events/{index}"), error.to_string())
        }
        TenantError::Schedule(error) => schedule_error(error),
        TenantError::HostWrittenFields { ref fields } => ApiError::Invalid {
            detail: error.to_string(),
            errors: fields
                .iter()
                .map(|field| FieldError {
                    pointer: format!("/payload/{field}"),
                    detail: format!(
                        "only the host writes a run's `{field}`; name a config by its id in `config` and the host fills it in"
                    ),
                })
                .collect(),
        },
        TenantError::RunMismatch { field, .. } => {
            ApiError::invalid_field(format!("/payload/{field}"), error.to_string())
        }
        TenantError::Secret(error) => ApiError::Internal(error.to_string()),
        TenantError::Store(error) => error.into(),
    }
}

fn schedule_error(error: ScheduleError) -> ApiError {
    let pointer = match &error {
        ScheduleError::Store(_) => {
            return match error {
                ScheduleError::Store(error) => error.into(),
                _ => ApiError::Internal("unreachable".to_owned()),
            }
        }
        ScheduleError::Json(_) => "/schedule".to_owned(),
        ScheduleError::Invalid { field, .. } if *field == "schedule" => "/schedule".to_owned(),
        ScheduleError::Invalid { field, .. } => format!("/schedule/{field}"),
        ScheduleError::Cron { .. } => "/schedule/cron".to_owned(),
        ScheduleError::UnknownTimeZone(_) => "/schedule/timezone".to_owned(),
    };
    ApiError::invalid_field(pointer, error.to_string())
}

/// A field that is there, `null` included (`Some(Value::Null)`); absent is `None`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A new config's schedule: absent is not given (the plugin's default applies), `null` none.
fn parse_new_schedule(schedule: Option<Value>) -> Result<Option<Option<ScheduleSpec>>, ApiError> {
    match schedule {
        None => Ok(None),
        Some(value) => parse_schedule(Some(value)).map(Some),
    }
}

fn parse_schedule(schedule: Option<Value>) -> Result<Option<ScheduleSpec>, ApiError> {
    schedule
        .filter(|value| !value.is_null())
        .map(|value| ScheduleSpec::from_value(&value))
        .transpose()
        .map_err(schedule_error)
}

fn tenant_not_found(tenant: &str) -> ApiError {
    ApiError::NotFound(format!(
        "tenant `{tenant}` does not exist; GET /api/v1/tenants lists the tenants you can see"
    ))
}

/// Reads a tenant the caller may see; another tenant answers 404.
async fn visible_tenant(state: &AppState, caller: &Caller, id: &str) -> Result<Tenant, ApiError> {
    if !caller.can_see(Some(id)) {
        return Err(tenant_not_found(id));
    }
    state
        .tenants
        .store()
        .tenant_get(id)
        .await?
        .ok_or_else(|| tenant_not_found(id))
}

/// Reads a config the caller may see (with its values as stored); another tenant's answers 404.
pub(super) async fn visible_config(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Config, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "config {id} does not exist; GET /api/v1/tenants/{{tenant}}/configs lists a tenant's configs"
        ))
    };
    let config = state
        .tenants
        .store()
        .config_get(id)
        .await?
        .ok_or_else(not_found)?;
    if !caller.can_see(Some(&config.tenant)) {
        return Err(not_found());
    }
    Ok(config)
}

/// Create a tenant (admin token or a global write token).
#[utoipa::path(post, path = "/api/v1/tenants", operation_id = "create_tenant", tag = "tenants", request_body = CreateTenant,
    responses(
        (status = 201, body = TenantView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    caller.require_global_write()?;
    let tenant = state
        .tenants
        .create_tenant(&body.id, body.name.as_deref())
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    let location = format!("/api/v1/tenants/{}", tenant.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(TenantView::from(tenant)),
    )
        .into_response())
}

/// List tenants (a tenant token sees only its own).
#[utoipa::path(get, path = "/api/v1/tenants", operation_id = "list_tenants", tag = "tenants",
    responses(
        (status = 200, body = TenantList),
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantList>, ApiError> {
    let tenants = state
        .tenants
        .list_tenants()
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    Ok(Json(TenantList {
        tenants: tenants
            .into_iter()
            .filter(|tenant| caller.can_see(Some(&tenant.id)))
            .map(TenantView::from)
            .collect(),
    }))
}

/// Show a tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}", operation_id = "get_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, body = TenantView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_tenant(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(tenant): PathParams<String>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(visible_tenant(&state, &caller, &tenant).await?.into()))
}

/// Delete a tenant and all its configs (admin token or a global write token).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}", operation_id = "delete_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(tenant): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    visible_tenant(&state, &caller, &tenant).await?;
    caller.require_global_write()?;
    state
        .tenants
        .delete_tenant(&tenant)
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a tenant's configs.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/configs", operation_id = "list_configs", tag = "configs",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, body = ConfigList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_configs(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(tenant): PathParams<String>,
) -> Result<Json<ConfigList>, ApiError> {
    visible_tenant(&state, &caller, &tenant).await?;
    let configs = state
        .tenants
        .list_configs(ConfigFilter {
            tenant: Some(tenant),
            ..ConfigFilter::default()
        })
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    Ok(Json(ConfigList {
        configs: configs.into_iter().map(ConfigBody::from).collect(),
    }))
}

/// Create a config of a plugin for a tenant. The values are checked against the plugin's
/// config schema, then by the plugin's own `config/validate` when it runs on this node; a
/// violation answers 422 with every failing path.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/configs", operation_id = "create_config", tag = "configs",
    request_body = CreateConfig,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 201, body = ConfigBody),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The plugin's config/validate did not answer; nothing was saved"),
    ))]
pub async fn create_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(tenant): PathParams<String>,
    JsonBody(body): JsonBody<CreateConfig>,
) -> Result<Response, ApiError> {
    caller.require_write()?;
    visible_tenant(&state, &caller, &tenant).await?;
    let schedule = parse_new_schedule(body.schedule)?;
    if let Some(existing) = state
        .tenants
        .store()
        .config_find(&tenant, &body.plugin, &body.name)
        .await?
    {
        return Err(config_exists(
            &tenant,
            &body.plugin,
            &body.name,
            &existing.id,
        ));
    }
    let request = ConfigRequest {
        tenant: tenant.clone(),
        plugin: body.plugin.clone(),
        name: body.name.clone(),
        values: Some(body.values),
        schedule,
        events: Some(body.events.clone()),
        enabled: Some(body.enabled.unwrap_or(true)),
    };
    // The check above gives the usual answer; a create that races another one of the same name
    // is refused by the store, and gets the same answer.
    let view = match state.tenants.create_config(request).await {
        Ok(view) => view,
        Err(TenantError::ConfigExists { .. }) => {
            let existing = state
                .tenants
                .store()
                .config_find(&tenant, &body.plugin, &body.name)
                .await?;
            let id = existing.map_or_else(|| "being created".to_owned(), |config| config.id);
            return Err(config_exists(&tenant, &body.plugin, &body.name, &id));
        }
        Err(error) => return Err(tenant_error(error, &body.events)),
    };
    let location = format!("/api/v1/configs/{}", view.config.id);
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        Json(ConfigBody::from(view)),
    )
        .into_response())
}

fn config_exists(tenant: &str, plugin: &str, name: &str, id: &str) -> ApiError {
    ApiError::Conflict(format!(
        "tenant {tenant} already has config `{name}` for plugin {plugin} ({id}); change it with PUT /api/v1/configs/{id}"
    ))
}

/// Show a config (secrets as `********`) with its next fires.
#[utoipa::path(get, path = "/api/v1/configs/{id}", operation_id = "get_config", tag = "configs",
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 200, body = ConfigBody),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<ConfigBody>, ApiError> {
    let config = visible_config(&state, &caller, &id).await?;
    let view = state
        .tenants
        .show_config(&config.tenant, &config.plugin, &config.name)
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    Ok(Json(view.into()))
}

/// Replace a config's values, schedule, events and enabled flag, checked as create checks them.
/// A secret sent as `********` or left out keeps its stored value.
#[utoipa::path(put, path = "/api/v1/configs/{id}", operation_id = "replace_config", tag = "configs", request_body = ReplaceConfig,
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 200, body = ConfigBody),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The plugin's config/validate did not answer; nothing was saved"),
    ))]
pub async fn replace_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ReplaceConfig>,
) -> Result<Json<ConfigBody>, ApiError> {
    caller.require_write()?;
    let config = visible_config(&state, &caller, &id).await?;
    let schedule = parse_schedule(body.schedule)?;
    let view = state
        .tenants
        .set_config(ConfigRequest {
            tenant: config.tenant,
            plugin: config.plugin,
            name: config.name,
            values: Some(body.values),
            schedule: Some(schedule),
            events: Some(body.events.clone()),
            enabled: Some(body.enabled.unwrap_or(true)),
        })
        .await
        .map_err(|error| tenant_error(error, &body.events))?;
    Ok(Json(view.into()))
}

/// Delete a config.
#[utoipa::path(delete, path = "/api/v1/configs/{id}", operation_id = "delete_config", tag = "configs",
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_write()?;
    let config = visible_config(&state, &caller, &id).await?;
    state
        .tenants
        .delete_config(&config.tenant, &config.plugin, &config.name)
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a config now: answers 202 with its `plugin.run` job.
#[utoipa::path(post, path = "/api/v1/configs/{id}/run", operation_id = "run_config", tag = "configs",
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 202, body = JobView, description = "The run's job; follow it at /api/v1/jobs/{id}"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The config is invalid"),
    ))]
pub async fn run_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    caller.require_write()?;
    let config = visible_config(&state, &caller, &id).await?;
    let enqueued = state
        .tenants
        .run_now(&config.id)
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    let job = state.queue.get(enqueued.id).await?;
    Ok(super::jobs::accepted(job))
}

/// Check a stored config again against the plugin's current config schema, its schedule, and
/// the plugin's own `config/validate` when it runs on this node.
/// Answers 200 with the problems (none: valid); it changes nothing.
#[utoipa::path(post, path = "/api/v1/configs/{id}/validate", operation_id = "validate_config", tag = "configs",
    params(("id" = String, Path, description = "Config id")),
    responses(
        (status = 200, body = ValidationResult),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The plugin's config/validate did not answer; nothing was saved"),
    ))]
pub async fn validate_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<ValidationResult>, ApiError> {
    let config = visible_config(&state, &caller, &id).await?;
    let problems = state
        .tenants
        .validate_config(&config)
        .await
        .map_err(|error| tenant_error(error, &[]))?;
    Ok(Json(ValidationResult {
        valid: problems.is_empty(),
        problems,
    }))
}

/// The next fire times of a config's schedule, computed without running anything.
#[utoipa::path(get, path = "/api/v1/configs/{id}/next-fires", operation_id = "get_config_next_fires", tag = "configs",
    params(("id" = String, Path, description = "Config id"), NextFiresQuery),
    responses(
        (status = 200, body = NextFires),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn next_fires(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<NextFiresQuery>,
) -> Result<Json<NextFires>, ApiError> {
    let count = query.count.unwrap_or(crate::tenants::PREVIEW_FIRES);
    if !(1..=MAX_FIRES).contains(&count) {
        return Err(ApiError::invalid(
            "count",
            format!("{count} is out of range; use 1 to {MAX_FIRES}"),
        ));
    }
    let config = visible_config(&state, &caller, &id).await?;
    let fires = state
        .tenants
        .next_fires(&config, count, Timestamp::now())
        .into_iter()
        .map(time::format)
        .collect();
    Ok(Json(NextFires {
        config: config.id,
        fires,
    }))
}

/// `POST /api/v1/schedules/next-fires`: a schedule not saved yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewSchedule {
    /// As a config takes it: `{"cron": "…", "timezone": "…"}` or `{"interval_seconds": N}`, with
    /// its options.
    pub schedule: Value,
    /// The config it would replace the schedule of: an interval without `start` then counts
    /// from the config's creation, as saving it would. Absent: a new config, created now.
    pub config: Option<String>,
    /// 1 to 100; default 5.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "super::integer::option")]
    pub count: Option<usize>,
}

/// The fires a schedule would have.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewedFires {
    /// RFC 3339, from now on; empty when the schedule is paused or has ended.
    pub fires: Vec<String>,
}

/// The next fires of a schedule before it is saved (the console's schedule editor shows them
/// as the user types), with the field errors a config's save would answer for it.
#[utoipa::path(post, path = "/api/v1/schedules/next-fires", operation_id = "preview_schedule", tag = "configs",
    request_body = PreviewSchedule,
    responses(
        (status = 200, body = PreviewedFires),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn preview_fires(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<PreviewSchedule>,
) -> Result<Json<PreviewedFires>, ApiError> {
    let count = body.count.unwrap_or(crate::tenants::PREVIEW_FIRES);
    if !(1..=MAX_FIRES).contains(&count) {
        return Err(ApiError::invalid(
            "count",
            format!("{count} is out of range; use 1 to {MAX_FIRES}"),
        ));
    }
    let now = Timestamp::now();
    let anchor = match &body.config {
        Some(id) => visible_config(&state, &caller, id).await?.created_at,
        None => now,
    };
    let schedule = ScheduleSpec::from_value(&body.schedule)
        .and_then(|spec| spec.compile(anchor))
        .map_err(schedule_error)?;
    let fires = if schedule.paused {
        Vec::new()
    } else {
        schedule.upcoming(now, count)
    };
    Ok(Json(PreviewedFires {
        fires: fires.into_iter().map(time::format).collect(),
    }))
}

/// The answer of a check that passed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Valid {
    /// Always true: a check that fails answers 422 with the failing fields.
    pub valid: bool,
}

/// Check a config as create would, without storing anything: 200 with `{"valid": true}`, or 422
/// with the same field errors create answers. Whether the name is taken is not checked.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/configs/validate", operation_id = "validate_new_config", tag = "configs",
    request_body = CreateConfig,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, body = Valid),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The plugin's config/validate did not answer; nothing was saved"),
    ))]
pub async fn validate_new_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(tenant): PathParams<String>,
    JsonBody(body): JsonBody<CreateConfig>,
) -> Result<Json<Valid>, ApiError> {
    caller.require_write()?;
    visible_tenant(&state, &caller, &tenant).await?;
    let schedule = parse_new_schedule(body.schedule)?;
    state
        .tenants
        .check_new_config(&ConfigRequest {
            tenant,
            plugin: body.plugin,
            name: body.name,
            values: Some(body.values),
            schedule,
            events: Some(body.events.clone()),
            enabled: Some(body.enabled.unwrap_or(true)),
        })
        .await
        .map_err(|error| tenant_error(error, &body.events))?;
    Ok(Json(Valid { valid: true }))
}

/// The longest a config test may wait for the plugin, in seconds.
const MAX_TEST_SECONDS: u64 = 300;

/// `POST /api/v1/configs/{id}/test`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TestQuery {
    /// How long to wait for the plugin to be ready and answer: 1 to 300 seconds; default 30.
    #[param(minimum = 1, maximum = 300)]
    pub timeout_seconds: Option<u64>,
}

/// The plugin's answer to `config/test`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigTestAnswer {
    pub config: String,
    pub plugin: String,
    /// The node whose plugin process answered.
    #[schema(required = true)]
    pub node: Option<String>,
    /// True when the test passed.
    pub ok: bool,
    /// What happened, for a person.
    pub message: String,
    /// Anything more the plugin showed.
    #[schema(required = true)]
    pub details: Option<Value>,
}

/// Run the plugin's own `config/test` with a stored config's values (for example, a login with
/// its credentials) on this server's running instance of the plugin, and answer what it said.
/// A failed test is a 200 with `ok: false`; problems reaching the plugin are problem documents.
#[utoipa::path(post, path = "/api/v1/configs/{id}/test", operation_id = "test_config", tag = "configs",
    params(("id" = String, Path, description = "Config id"), TestQuery),
    responses(
        (status = 200, body = ConfigTestAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The plugin is disabled, has failed, or does not run on this node"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The plugin answered with an error"),
        (status = 504, body = Problem, content_type = "application/problem+json", description = "The plugin did not answer in time"),
    ))]
pub async fn test_config(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<TestQuery>,
) -> Result<Json<ConfigTestAnswer>, ApiError> {
    let timeout = query.timeout_seconds.unwrap_or(30);
    if !(1..=MAX_TEST_SECONDS).contains(&timeout) {
        return Err(ApiError::invalid(
            "timeout_seconds",
            format!("{timeout} is out of range; use 1 to {MAX_TEST_SECONDS}"),
        ));
    }
    caller.require_write()?;
    let config = visible_config(&state, &caller, &id).await?;
    let store = state.tenants.store();
    if let Some(installed) = store.plugin_get(&config.plugin).await? {
        if installed.state == crate::store::PluginState::Disabled {
            return Err(ApiError::Conflict(format!(
                "plugin {} is disabled, so its configs cannot be tested; enable it with POST /api/v1/plugins/{}/enable",
                config.plugin, config.plugin
            )));
        }
    }
    let values = state
        .tenants
        .open_values(&config)
        .map_err(|error| tenant_error(error, &[]))?;
    let outcome = match &state.local.plugins {
        Some(plugins) => {
            plugins
                .config_test(
                    &config.plugin,
                    &config.tenant,
                    values,
                    std::time::Duration::from_secs(timeout),
                )
                .await
        }
        None => Err(super::PluginCallError::NotLoaded(config.plugin.clone())),
    };
    let node = state.local.node_id.clone();
    let here = node.as_deref().unwrap_or("this node");
    match outcome {
        Ok(answer) => Ok(Json(ConfigTestAnswer {
            config: config.id,
            plugin: config.plugin,
            node,
            ok: answer.ok,
            message: answer.message,
            details: answer.details,
        })),
        Err(super::PluginCallError::NotLoaded(plugin)) => {
            let elsewhere: Vec<String> = store
                .node_list()
                .await?
                .into_iter()
                .filter(|other| {
                    crate::nodes::NodeStatus::of(other) == crate::nodes::NodeStatus::Up
                        && other.plugins.contains(&plugin)
                })
                .map(|other| format!("{} ({})", other.id, other.listen))
                .collect();
            Err(ApiError::Conflict(if elsewhere.is_empty() {
                format!(
                    "plugin {plugin} is not running on {here}, nor on any other node; install and enable it (POST /api/v1/plugins), or start a server with --plugin DIR"
                )
            } else {
                format!(
                    "plugin {plugin} is not running on {here}; send the request to a node that runs it: {}",
                    elsewhere.join(", ")
                )
            }))
        }
        Err(error @ super::PluginCallError::Failed { .. }) => Err(ApiError::Conflict(format!(
            "{error}; GET /api/v1/plugins/{} and the server's log say why",
            config.plugin
        ))),
        Err(super::PluginCallError::TimedOut(reason)) => Err(ApiError::PluginTimeout(format!(
            "{reason}; try again with a longer timeout_seconds, or look at the plugin's log"
        ))),
        // An optional method the plugin does not offer: nothing to test, not a plugin failure.
        Err(error @ super::PluginCallError::NotImplemented { .. }) => Err(ApiError::Conflict(
            format!("{error}: it offers no test of its configs (docs/protocol.md, `config/test`)"),
        )),
        Err(super::PluginCallError::Answered(reason) | super::PluginCallError::Crashed(reason)) => {
            Err(ApiError::PluginError(reason))
        }
        Err(super::PluginCallError::NotReady(reason) | super::PluginCallError::Stopped(reason)) => {
            Err(ApiError::Unavailable(format!("{reason}; try again")))
        }
    }
}
