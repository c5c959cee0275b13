//! Every method of protocol version 1, with its params and result. Field names are camelCase on
//! the wire, as in MCP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::Id;
use crate::metadata::Metadata;

/// Host → plugin request: the handshake, always the first message.
pub const INITIALIZE: &str = "initialize";
/// Host → plugin request: run one attempt of a job.
pub const RUN: &str = "run";
/// Host → plugin notification: stop the request `requestId`.
pub const CANCEL: &str = "cancel";
/// Host → plugin request: check a config's values beyond what the JSON Schema says.
pub const CONFIG_VALIDATE: &str = "config/validate";
/// Host → plugin request: try a config for real (for example, connect with its credentials).
pub const CONFIG_TEST: &str = "config/test";
/// Host → plugin request: a proxied HTTP request to one of the plugin's routes.
pub const HTTP: &str = "http";
/// Host → plugin request: call one of the plugin's tools (as MCP's `tools/call`).
pub const TOOLS_CALL: &str = "tools/call";
/// Host → plugin request: are you alive? Answer `{}`.
pub const PING: &str = "ping";
/// Host → plugin request: finish in-flight work, answer `{}`, then exit.
pub const SHUTDOWN: &str = "shutdown";
/// Plugin → host notification: a log line (of a job when `requestId` names a `run`).
pub const LOG: &str = "log";
/// Plugin → host notification: progress of a request.
pub const PROGRESS: &str = "progress";
/// Plugin → host request: read a stored value.
pub const KV_GET: &str = "kv/get";
/// Plugin → host request: store a value.
pub const KV_SET: &str = "kv/set";
/// Plugin → host request: delete a value.
pub const KV_DELETE: &str = "kv/delete";
/// Plugin → host request: list stored values by key prefix.
pub const KV_LIST: &str = "kv/list";
/// Plugin → host request: raise an event.
pub const EMIT: &str = "emit";

/// Who is talking: the host in `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// `plugboard`.
    pub name: String,
    /// The host's version.
    pub version: String,
}

/// Params of `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The protocol version the host speaks.
    pub protocol_version: u32,
    /// The host.
    pub host: HostInfo,
    /// The plugin's own writable directory (its working directory is its package folder).
    pub data_dir: String,
}

/// The plugin's identity, as it answers `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Must equal the manifest's `id`.
    pub id: String,
    /// A display name.
    pub name: String,
    /// Must equal the manifest's `version`.
    pub version: String,
}

/// Result of `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The protocol version the plugin speaks; the host refuses one it does not.
    pub protocol_version: u32,
    /// Who the plugin is.
    pub plugin: PluginInfo,
    /// What the plugin offers.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Why a `run` happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// An interval or cron schedule fired.
    Schedule,
    /// An event the config subscribes to arrived.
    Event,
    /// Someone ran it by hand.
    Manual,
}

/// An event, as delivered to a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's id.
    pub id: String,
    /// Its type, for example `form.submitted`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Its payload.
    #[serde(default)]
    pub payload: Value,
}

/// What started a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// Schedule, event or manual.
    pub kind: TriggerKind,
    /// The event, when `kind` is `event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// The scheduled time (RFC 3339), when `kind` is `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire_time: Option<String>,
}

/// The job a run belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    /// The job's id.
    pub id: i64,
    /// This attempt, from 1.
    pub attempt: i32,
    /// The last attempt there will be.
    pub max_attempts: i32,
    /// When the host stops the attempt (RFC 3339), if it has a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

/// The config a run uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigInfo {
    /// The config's id.
    pub id: String,
    /// Its name, unique per tenant and plugin.
    pub name: String,
    /// Its values, valid against the plugin's config schema.
    #[serde(default)]
    pub values: Value,
}

/// Params of `run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    /// The job.
    pub job: JobInfo,
    /// Why it runs.
    pub trigger: Trigger,
    /// For whom (absent for jobs of no tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// With which config (absent for manual runs without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigInfo>,
    /// The job's own payload, as enqueued.
    #[serde(default)]
    pub payload: Value,
}

/// Result of `run`: `{"result": ANY}`, stored as the job's result. (A host also accepts any other
/// object as the result itself, so a plugin that forgets the wrapper loses nothing.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResult {
    /// The job's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// Params of the `cancel` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelParams {
    /// The id of the request to stop.
    pub request_id: Id,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Params of `config/validate` and `config/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigParams {
    /// For whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The values to check (already valid against the JSON Schema).
    pub values: Value,
}

/// One problem with a config's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// A JSON Pointer to the value, for example `/url`.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// Result of `config/validate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigValidateResult {
    /// True when the values are fine.
    pub valid: bool,
    /// What is wrong when they are not.
    #[serde(default)]
    pub errors: Vec<ConfigProblem>,
}

/// Result of `config/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigTestResult {
    /// True when the test passed.
    pub ok: bool,
    /// What happened, for a person.
    pub message: String,
    /// Anything more to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Params of `http`: a request to one of the plugin's routes, with its path relative to
/// `/plugins/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpParams {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path below the plugin's mount point, starting with `/`.
    pub path: String,
    /// The raw query string, without `?`.
    #[serde(default)]
    pub query: String,
    /// Request headers, names in lower case.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, base64-encoded (standard alphabet, with padding).
    #[serde(default)]
    pub body: String,
    /// The caller's tenant: on `tenant` routes, and on webhook deliveries (the config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The route's `path` as the metadata declares it (`/items/{id}`): which route matched.
    #[serde(default)]
    pub route: String,
    /// The values of the route's `{name}` segments, percent-decoded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// What the host checked about the caller: `public` (nobody checked), `read` or `write`
    /// (a tenant's token), `admin`, or `webhook` (a config's webhook address).
    #[serde(default = "public_access")]
    pub access: String,
    /// On webhook deliveries: the config whose address was called, its secrets opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<HttpConfig>,
}

fn public_access() -> String {
    "public".to_owned()
}

/// The config a webhook delivery is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpConfig {
    /// The config's id.
    pub id: String,
    /// Its name, unique per tenant and plugin.
    pub name: String,
    /// Its values, secret fields opened.
    pub values: Value,
}

/// Result of `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResult {
    /// The status code.
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, base64-encoded.
    #[serde(default)]
    pub body: String,
}

/// Params of `tools/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolsCallParams {
    /// The tool's name, as listed in the metadata.
    pub name: String,
    /// Arguments, valid against the tool's input schema.
    #[serde(default)]
    pub arguments: Value,
    /// For whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// One piece of a tool's answer (MCP's content block; plugboard uses `text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// `text`.
    #[serde(rename = "type")]
    pub content_type: String,
    /// The text.
    pub text: String,
}

/// Result of `tools/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolsCallResult {
    /// The answer.
    pub content: Vec<Content>,
    /// True when the tool failed (the answer then says why).
    #[serde(default)]
    pub is_error: bool,
    /// The answer as JSON valid against the tool's `outputSchema`, for tools that declare one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
}

/// Severity of a `log` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd, work goes on.
    Warn,
    /// Something failed.
    Error,
}

/// Params of the `log` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogParams {
    /// Severity.
    pub level: LogLevel,
    /// The line.
    pub message: String,
    /// The `run` request this belongs to; without it the line goes to the plugin's own log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Id>,
}

/// Params of the `progress` notification (as MCP's progress: `progress` of `total`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressParams {
    /// The request this is the progress of.
    pub request_id: Id,
    /// How far, in units of `total` (or any growing number without it).
    pub progress: f64,
    /// The end, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// What is happening now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Params of `kv/get` and `kv/delete`. Keys are scoped to the plugin and the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvKeyParams {
    /// The tenant whose value it is (absent: the plugin's own, tenant-less values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// 1 to 512 bytes.
    pub key: String,
}

/// Result of `kv/get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvGetResult {
    /// The value, or `null` when there is none.
    pub value: Option<Value>,
}

/// Params of `kv/set`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvSetParams {
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// 1 to 512 bytes.
    pub key: String,
    /// Any JSON, up to 1 MiB encoded.
    pub value: Value,
}

/// Result of `kv/delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvDeleteResult {
    /// True when there was a value.
    pub deleted: bool,
}

/// Params of `kv/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvListParams {
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only keys that start with this.
    #[serde(default)]
    pub prefix: String,
    /// Only keys after this one (the `nextCursor` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (default and maximum 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvItem {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: Value,
}

/// Result of `kv/list`, in key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvListResult {
    /// The values.
    pub items: Vec<KvItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Params of `emit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmitParams {
    /// The tenant the event is for.
    pub tenant: String,
    /// Its type, for example `uptime.down`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Its payload.
    #[serde(default)]
    pub payload: Value,
    /// A second event with the same key does nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Result of `emit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmitResult {
    /// The stored event's id.
    pub event_id: String,
}
