//! `/api/v1/plugins`: the registry (list, show with kept versions and cached metadata) and the
//! admin's actions, each enqueued as its installer job and answered `202 Accepted` with the job.
//!
//! Every read is open to every token (plugins are shared by all tenants); every action needs
//! the admin token or a global write token. What can reach beyond a plugin's sandbox is the
//! admin token's alone: installing or updating from a path on the server (a global write token
//! gives a URL; the admin may also upload) and granting permissions (`grant_permissions`, which
//! the installer's consent check compares with what the manifest asks for). The job kinds and
//! payloads are the installer's (`plugin.install`, …); this module only builds them, so it does
//! not depend on `plugins/`.

use axum::extract::{FromRequest, Request, State};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::jobs::JobView;
use super::problem::{ApiError, JsonBody, PathParams, Problem, QueryParams};
use super::uploads::{self, BodyKind};
use super::{time, AppState};
use crate::store::{InstalledPlugin, NewJob};

/// A plugin manifest's `[permissions]`: what the admin grants, or granted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsView {
    /// Use the network (TCP and UDP).
    #[serde(default)]
    pub network: bool,
    /// Absolute paths it may also read.
    #[serde(default)]
    pub read: Vec<String>,
    /// Absolute paths it may also read and write.
    #[serde(default)]
    pub write: Vec<String>,
    /// Names of the server's environment variables passed through.
    #[serde(default)]
    pub env: Vec<String>,
    /// Open Unix sockets.
    #[serde(default)]
    pub unix_sockets: bool,
}

/// A plugin as the registry keeps it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    pub id: String,
    #[schema(required = true)]
    pub active_version: Option<String>,
    #[schema(required = true)]
    pub previous_version: Option<String>,
    #[schema(inline, value_type = PluginStateName)]
    pub state: String,
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(required = true)]
    pub source: Option<String>,
    /// The job that last changed it.
    #[schema(required = true)]
    pub changed_by: Option<i64>,
    /// The permissions the admin granted it (every grant of its installs and updates);
    /// `null` for a plugin installed before grants were recorded, which has none. Shown as
    /// stored, so that a permission the manifest gains later shows too.
    #[schema(value_type = Option<PermissionsView>)]
    #[schema(required = true)]
    pub granted_permissions: Option<Value>,
    pub updated_at: String,
}

impl From<InstalledPlugin> for PluginView {
    fn from(plugin: InstalledPlugin) -> PluginView {
        PluginView {
            id: plugin.id,
            active_version: plugin.active_version,
            previous_version: plugin.previous_version,
            state: plugin.state.as_str().to_owned(),
            error: plugin.error,
            source: plugin.source,
            changed_by: plugin.changed_by.map(|job| job.0),
            granted_permissions: plugin.granted_permissions,
            updated_at: time::format(plugin.updated_at),
        }
    }
}

/// A kept package version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: String,
    pub sha256: String,
    pub size: i64,
    #[schema(required = true)]
    pub source: Option<String>,
    pub created_at: String,
}

/// Where a plugin is in its life.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum PluginStateName {
    Installing,
    Enabled,
    Disabled,
    Failed,
}

/// How current a plugin's metadata is.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum MetadataStateName {
    Fresh,
    Stale,
    Error,
}

/// The metadata the plugin declared at its last handshake.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetadataView {
    pub version: String,
    pub checksum: String,
    /// `stale`: from an older package, the new one has not answered yet; `error`: the last
    /// handshake failed.
    #[schema(inline, value_type = MetadataStateName)]
    pub state: String,
    #[schema(required = true)]
    pub metadata: Option<Value>,
    #[schema(required = true)]
    pub error: Option<String>,
    pub updated_at: String,
}

/// One plugin with its kept versions and cached metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginDetail {
    #[serde(flatten)]
    pub plugin: PluginView,
    pub versions: Vec<VersionView>,
    #[schema(required = true)]
    pub metadata: Option<MetadataView>,
    /// The admin job holding the plugin's lock, if one is queued or running.
    #[schema(required = true)]
    pub busy_with_job: Option<i64>,
    /// Its processes started again on the node that answers (after a crash, or a hung run
    /// replaced) since the current version was loaded; absent when it is not loaded there.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub restarts: Option<u64>,
}

/// Plugins in the registry.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginList {
    pub plugins: Vec<PluginListItem>,
}

/// A plugin as listed: the registry's row and the console pages its metadata declares.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginListItem {
    #[serde(flatten)]
    pub plugin: PluginView,
    /// The pages it adds to the console (its metadata's `ui`), served at
    /// `/plugins/{id}{path}`; empty when it declares none or has not reported its metadata.
    pub pages: Vec<PageView>,
    /// As in the plugin's detail: restarts on the node that answers, absent when not loaded there.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub restarts: Option<u64>,
}

/// A console page of a plugin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PageView {
    pub id: String,
    pub title: String,
    /// The path of the route that serves it, below `/plugins/{id}`.
    pub path: String,
}

/// `POST /api/v1/plugins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPlugin {
    /// An http(s) URL, or an absolute path on the server of an archive or folder.
    #[schema(pattern = "^(https?://|/)")]
    pub source: String,
    /// The archive's expected sha256 (64 hex digits).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    /// Admin token only: the permissions granted, exactly what the manifest's `[permissions]`
    /// asks for. Without it, a plugin that asks for any permission awaits approval.
    pub grant_permissions: Option<PermissionsView>,
}

/// `POST /api/v1/plugins/{id}/update`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlugin {
    /// A URL or server path holding the new version; or give `version`.
    #[schema(pattern = "^(https?://|/)")]
    pub source: Option<String>,
    /// A version kept in the store from an earlier install or update.
    pub version: Option<String>,
    /// The archive's expected sha256 (64 hex digits), with `source`.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    /// Accept a version older than the active one.
    #[serde(default)]
    pub allow_downgrade: bool,
    /// Admin token only: the permissions granted, exactly what the new version's manifest asks
    /// for. Needed when it asks for more than the plugin was granted.
    pub grant_permissions: Option<PermissionsView>,
}

/// The query of `POST /api/v1/plugins` when the body is the package archive itself.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadOptions {
    /// With an uploaded archive: its expected sha256 (64 hex digits). With a JSON body, give
    /// `sha256` in the body instead.
    #[param(pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Option<String>,
    /// With an uploaded archive: the permissions granted, as JSON
    /// (`{"network":true,"read":[],"write":[],"env":[]}`). With a JSON body, give
    /// `grant_permissions` in the body instead.
    pub grant_permissions: Option<String>,
    /// With an uploaded archive: the name of what was sent (a file or folder name, 1 to 255
    /// characters), which `GET /api/v1/plugins/{id}` shows as the source.
    #[param(min_length = 1, max_length = 255)]
    pub filename: Option<String>,
}

/// The query of `POST /api/v1/plugins/{id}/update` when the body is the package archive itself.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UpdateUploadOptions {
    /// With an uploaded archive: its expected sha256 (64 hex digits).
    #[param(pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Option<String>,
    /// With an uploaded archive: accept a version older than the active one.
    pub allow_downgrade: Option<bool>,
    /// With an uploaded archive: the permissions granted, as JSON.
    pub grant_permissions: Option<String>,
    /// With an uploaded archive: the name of what was sent, shown as the source.
    #[param(min_length = 1, max_length = 255)]
    pub filename: Option<String>,
}

/// A package archive sent as the request body (`.tar.gz`, `.tar` or `.zip`): only its
/// description in the OpenAPI document, the bytes themselves are streamed (`uploads.rs`).
pub struct PackageArchive;

impl utoipa::PartialSchema for PackageArchive {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .description(Some("A plugin package: .tar.gz, .tar or .zip"))
            .into()
    }
}

impl ToSchema for PackageArchive {}

/// `DELETE /api/v1/plugins/{id}` options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UninstallOptions {
    /// Also delete the plugin's key-value data, cached metadata and data folder.
    pub delete_data: Option<bool>,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if plugboard_protocol::manifest::is_valid_plugin_id(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "there is no plugin `{id}`; plugin ids are 1 to 64 lower-case letters, digits, `-`, `_` or `.`, without `..`"
        )))
    }
}

/// `pointer` is `/sha256` for a JSON body, `sha256` for the query of an upload.
fn check_sha256(sha256: &Option<String>, pointer: &str) -> Result<(), ApiError> {
    if let Some(sha256) = sha256 {
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::invalid(pointer, "must be 64 hex digits"));
        }
    }
    Ok(())
}

/// A URL, or (admin token only) an absolute path on the server.
fn check_source(caller: &Caller, source: &str) -> Result<(), ApiError> {
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    if !is_url && !std::path::Path::new(source).is_absolute() {
        return Err(ApiError::invalid(
            "/source",
            format!("`{source}` is neither an http(s) URL nor an absolute path on the server"),
        ));
    }
    if !is_url && !caller.is_admin() {
        return Err(ApiError::Forbidden(format!(
            "only the admin token may install or update from a path on the server (`{source}`), not token {}; give an http(s) URL of the package",
            caller.label()
        )));
    }
    Ok(())
}

/// Puts a grant in a job's payload; granting permissions is the admin token's alone.
fn add_grant(
    caller: &Caller,
    payload: &mut Value,
    grant: Option<PermissionsView>,
) -> Result<(), ApiError> {
    let Some(grant) = grant else { return Ok(()) };
    if !caller.is_admin() {
        return Err(ApiError::Forbidden(format!(
            "only the admin token may grant a plugin permissions, not token {}; leave `grant_permissions` out (a plugin that asks for permissions then awaits the admin's approval)",
            caller.label()
        )));
    }
    payload["grant_permissions"] = json!(grant);
    Ok(())
}

/// `grant_permissions` of an upload's query: the JSON of the permissions.
fn grant_of_query(text: Option<String>) -> Result<Option<PermissionsView>, ApiError> {
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| {
            ApiError::invalid_field(
                "grant_permissions",
                format!("not the JSON of permissions ({error}); send for example {{\"network\":true,\"read\":[],\"write\":[],\"env\":[]}}"),
            )
        })
    })
    .transpose()
}

/// Enqueues an admin job and answers 202 with it, pointing at it with `Location`.
async fn enqueue_admin_job(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    payload: Value,
) -> Result<Response, ApiError> {
    caller.require_global_write()?;
    let mut job = NewJob::new(kind, payload);
    // A retry picks up a job whose host died mid-way; errors of the action itself are final.
    job.max_attempts = 3;
    let enqueued = state.queue.enqueue(job).await?;
    let job = state.queue.get(enqueued.id).await?;
    Ok(super::jobs::accepted(job))
}

/// Characters that reorder the text around them (U+200E, U+200F, U+202A to U+202E, U+2066 to
/// U+2069): a name holding one can show as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `filename` of an upload's query: a name to show, without control characters.
fn check_filename(filename: Option<&str>) -> Result<(), ApiError> {
    match filename {
        Some(name)
            if name.is_empty()
                || name.chars().count() > 255
                || name.chars().any(|c| c.is_control() || is_bidi_control(c)) =>
        {
            Err(ApiError::invalid_field(
                "filename",
                "give the name of the file or folder sent: 1 to 255 characters, none of them control or text-direction characters",
            ))
        }
        _ => Ok(()),
    }
}

/// Receives an uploaded archive (admin only), checks it against `sha256` when given, keeps it in
/// the store and enqueues `kind` with the staged file as its `source`. The store's copy stays
/// only if the job was enqueued; the job removes it when it ends.
async fn enqueue_upload(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    mut payload: Value,
    (sha256, grant, filename): (Option<String>, Option<String>, Option<String>),
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let checked = caller
        .require_admin()
        .and_then(|()| check_sha256(&sha256, "sha256"))
        .and_then(|()| check_filename(filename.as_deref()))
        .and_then(|()| grant_of_query(grant))
        .and_then(|grant| add_grant(caller, &mut payload, grant));
    if let Err(error) = checked {
        // Refused before the package was read: the client still gets the answer.
        return Ok(super::problem::refused_before_body(error, body).await);
    }
    let upload = uploads::receive(&state.uploads, &parts.headers, body).await?;
    if let Some(expected) = &sha256 {
        if !expected.eq_ignore_ascii_case(&upload.sha256) {
            return Err(ApiError::invalid_field(
                "sha256",
                format!(
                    "the uploaded package's sha256 is {}, not the expected {expected}; check the file and the checksum",
                    upload.sha256
                ),
            ));
        }
    }
    tracing::info!(bytes = upload.bytes, sha256 = %upload.sha256, path = %upload.path.display(), "plugin package uploaded");
    // The store keeps it until the job ends, so the node that takes the job need not be this
    // one; that node writes it to its own uploads folder.
    let name = upload
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = tokio::fs::read(&upload.path).await.map_err(|error| {
        ApiError::Internal(format!(
            "cannot read back {}: {error}",
            upload.path.display()
        ))
    })?;
    let store = state.queue.store();
    store.upload_put(&name, &upload.sha256, data).await?;
    payload["source"] = json!(upload.path.display().to_string());
    payload["uploaded_as"] = json!(filename.unwrap_or_else(|| format!(
        "an archive of sha256 {}",
        upload.sha256.get(..12).unwrap_or(&upload.sha256)
    )));
    // Gone before the job can start, so a job on this node takes the store's copy too.
    drop(upload);
    if let Some(sha256) = sha256 {
        payload["sha256"] = json!(sha256.to_ascii_lowercase());
    }
    let answer = enqueue_admin_job(state, caller, kind, payload).await;
    if answer.is_err() {
        let _ = store.upload_delete(&name).await;
    }
    answer
}

/// List installed plugins.
#[utoipa::path(get, path = "/api/v1/plugins", operation_id = "list_plugins", tag = "plugins",
    responses(
        (status = 200, body = PluginList),
    ))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<PluginList>, ApiError> {
    let store = state.queue.store();
    let loaded = loaded_here(&state);
    let mut listed = Vec::new();
    for plugin in store.plugin_list().await? {
        let pages = store
            .plugin_metadata_get(&plugin.id)
            .await?
            .and_then(|record| record.metadata)
            .and_then(|metadata| metadata.get("ui").cloned())
            .and_then(|ui| serde_json::from_value::<Vec<PageView>>(ui).ok())
            .unwrap_or_default();
        listed.push(PluginListItem {
            restarts: restarts_of(&loaded, &plugin.id),
            plugin: plugin.into(),
            pages,
        });
    }
    Ok(Json(PluginList { plugins: listed }))
}

/// The plugins this node has loaded, with their processes' restarts.
fn loaded_here(state: &AppState) -> Vec<super::local::LocalPlugin> {
    state
        .local
        .plugins
        .as_ref()
        .map(|plugins| plugins.plugins())
        .unwrap_or_default()
}

fn restarts_of(loaded: &[super::local::LocalPlugin], id: &str) -> Option<u64> {
    loaded
        .iter()
        .find(|plugin| plugin.id == id)
        .map(|plugin| plugin.restarts)
}

/// Show a plugin, its kept versions and its cached metadata.
#[utoipa::path(get, path = "/api/v1/plugins/{id}", operation_id = "get_plugin", tag = "plugins",
    params(("id" = String, Path, description = "Plugin id: 1 to 64 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit, without `..`", min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9_-]|\\.[a-z0-9_-])*\\.?$")),
    responses(
        (status = 200, body = PluginDetail),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<PluginDetail>, ApiError> {
    check_id(&id)?;
    let store = state.queue.store();
    let plugin = store.plugin_get(&id).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "plugin {id} is not installed; GET /api/v1/plugins lists what is"
        ))
    })?;
    let versions = store
        .package_list(&id)
        .await?
        .into_iter()
        .map(|package| VersionView {
            version: package.version,
            sha256: package.sha256,
            size: package.size,
            source: package.source,
            created_at: time::format(package.created_at),
        })
        .collect();
    let metadata = store
        .plugin_metadata_get(&id)
        .await?
        .map(|record| MetadataView {
            version: record.version,
            checksum: record.checksum,
            state: record.state.as_str().to_owned(),
            metadata: record.metadata,
            error: record.error,
            updated_at: time::format(record.updated_at),
        });
    let busy_with_job = store.plugin_lock_holder(&id).await?.map(|job| job.0);
    Ok(Json(PluginDetail {
        restarts: restarts_of(&loaded_here(&state), &id),
        plugin: plugin.into(),
        versions,
        metadata,
        busy_with_job,
    }))
}

/// Install a plugin from a URL or a server path (a JSON body), or from the package archive sent
/// as the body (admin only; `Content-Type: application/gzip`, `application/x-tar`,
/// `application/zip` or `application/octet-stream`, with `sha256` in the query). Answers 202 with
/// the `plugin.install` job.
#[utoipa::path(post, path = "/api/v1/plugins", operation_id = "install_plugin", tag = "plugins",
    request_body(content(
        (InstallPlugin = "application/json"),
        (PackageArchive = "application/gzip"),
        (PackageArchive = "application/x-tar"),
        (PackageArchive = "application/zip"),
        (PackageArchive = "application/octet-stream"),
    )),
    params(UploadOptions),
    responses(
        (status = 202, body = JobView, description = "The install job; follow it at /api/v1/jobs/{id}"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn install(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(options): QueryParams<UploadOptions>,
    request: Request,
) -> Result<Response, ApiError> {
    if let Err(error) = caller
        .require_global_write()
        .and_then(|()| BodyKind::of(request.headers()))
    {
        return Ok(super::problem::refused_before_body(error, request.into_body()).await);
    }
    if BodyKind::of(request.headers())? == BodyKind::Archive {
        return enqueue_upload(
            &state,
            &caller,
            "plugin.install",
            json!({}),
            (options.sha256, options.grant_permissions, options.filename),
            request,
        )
        .await;
    }
    json_only(
        options.sha256.is_some()
            || options.grant_permissions.is_some()
            || options.filename.is_some(),
    )?;
    let JsonBody(body) = JsonBody::<InstallPlugin>::from_request(request, &state).await?;
    check_source(&caller, &body.source)?;
    check_sha256(&body.sha256, "/sha256")?;
    let mut payload = json!({"source": body.source});
    if let Some(sha256) = body.sha256 {
        payload["sha256"] = json!(sha256);
    }
    add_grant(&caller, &mut payload, body.grant_permissions)?;
    enqueue_admin_job(&state, &caller, "plugin.install", payload).await
}

/// Query parameters belong to uploads; a JSON body carries its own fields.
fn json_only(has_query: bool) -> Result<(), ApiError> {
    if has_query {
        return Err(ApiError::invalid_field(
            "sha256",
            "query parameters go with an uploaded archive; with a JSON body, give them as fields of the body",
        ));
    }
    Ok(())
}

/// Update a plugin to a new package or a kept version (a JSON body), or to the package archive
/// sent as the body (admin only; as for install, with `sha256` and `allow_downgrade` in the
/// query). Answers 202 with the job.
#[utoipa::path(post, path = "/api/v1/plugins/{id}/update", operation_id = "update_plugin", tag = "plugins",
    request_body(content(
        (UpdatePlugin = "application/json"),
        (PackageArchive = "application/gzip"),
        (PackageArchive = "application/x-tar"),
        (PackageArchive = "application/zip"),
        (PackageArchive = "application/octet-stream"),
    )),
    params(("id" = String, Path, description = "Plugin id: 1 to 64 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit, without `..`", min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9_-]|\\.[a-z0-9_-])*\\.?$"), UpdateUploadOptions),
    responses(
        (status = 202, body = JobView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(options): QueryParams<UpdateUploadOptions>,
    request: Request,
) -> Result<Response, ApiError> {
    if let Err(error) = caller
        .require_global_write()
        .and_then(|()| check_id(&id))
        .and_then(|()| BodyKind::of(request.headers()))
    {
        return Ok(super::problem::refused_before_body(error, request.into_body()).await);
    }
    if BodyKind::of(request.headers())? == BodyKind::Archive {
        let mut payload = json!({"plugin": id});
        if options.allow_downgrade == Some(true) {
            payload["allow_downgrade"] = json!(true);
        }
        return enqueue_upload(
            &state,
            &caller,
            "plugin.update",
            payload,
            (options.sha256, options.grant_permissions, options.filename),
            request,
        )
        .await;
    }
    json_only(
        options.sha256.is_some()
            || options.allow_downgrade.is_some()
            || options.grant_permissions.is_some()
            || options.filename.is_some(),
    )?;
    let JsonBody(body) = JsonBody::<UpdatePlugin>::from_request(request, &state).await?;
    check_sha256(&body.sha256, "/sha256")?;
    let mut payload = json!({"plugin": id});
    match (body.source, body.version) {
        (Some(source), None) => {
            check_source(&caller, &source)?;
            payload["source"] = json!(source);
        }
        (None, Some(version)) => payload["version"] = json!(version),
        _ => {
            return Err(ApiError::invalid(
                "/source",
                "give exactly one of `source` (a new package) and `version` (a kept one)",
            ))
        }
    }
    if let Some(sha256) = body.sha256 {
        payload["sha256"] = json!(sha256);
    }
    if body.allow_downgrade {
        payload["allow_downgrade"] = json!(true);
    }
    add_grant(&caller, &mut payload, body.grant_permissions)?;
    enqueue_admin_job(&state, &caller, "plugin.update", payload).await
}

macro_rules! simple_action {
    ($name:ident, $operation:literal, $path:literal, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, operation_id = $operation, tag = "plugins",
            params(("id" = String, Path, description = "Plugin id: 1 to 64 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit, without `..`", min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9_-]|\\.[a-z0-9_-])*\\.?$")),
            responses(
                (status = 202, body = JobView),
                (status = 403, body = Problem, content_type = "application/problem+json"),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 422, body = Problem, content_type = "application/problem+json"),
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            PathParams(id): PathParams<String>,
        ) -> Result<Response, ApiError> {
            caller.require_global_write()?;
            check_id(&id)?;
            enqueue_admin_job(&state, &caller, $kind, json!({"plugin": id})).await
        }
    };
}

simple_action!(
    rollback,
    "rollback_plugin",
    "/api/v1/plugins/{id}/rollback",
    "plugin.rollback",
    "Go back to the plugin's previous version; answers 202 with the job."
);
simple_action!(
    enable,
    "enable_plugin",
    "/api/v1/plugins/{id}/enable",
    "plugin.enable",
    "Start a disabled plugin; answers 202 with the job."
);
simple_action!(
    disable,
    "disable_plugin",
    "/api/v1/plugins/{id}/disable",
    "plugin.disable",
    "Stop a plugin and keep it installed; answers 202 with the job."
);

/// Uninstall a plugin (its data is kept unless `delete_data=true`); answers 202 with the job.
#[utoipa::path(delete, path = "/api/v1/plugins/{id}", operation_id = "uninstall_plugin", tag = "plugins",
    params(("id" = String, Path, description = "Plugin id: 1 to 64 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit, without `..`", min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9_-]|\\.[a-z0-9_-])*\\.?$"), UninstallOptions),
    responses(
        (status = 202, body = JobView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn uninstall(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(options): QueryParams<UninstallOptions>,
) -> Result<Response, ApiError> {
    caller.require_global_write()?;
    check_id(&id)?;
    let payload = json!({"plugin": id, "delete_data": options.delete_data.unwrap_or(false)});
    enqueue_admin_job(&state, &caller, "plugin.uninstall", payload).await
}
