//! Runtime metadata: what a plugin offers, as it answers `initialize`. The host caches it with
//! the checksum of the package it came from.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything a plugin declares at run time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// JSON Schema (draft 2020-12 or 7) of a config's values; absent: the plugin takes no config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<Value>,
    /// Event types the plugin can react to (`form.submitted`, or patterns like `form.*`).
    #[serde(default)]
    pub events: Vec<String>,
    /// The schedule a new config gets unless it sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// HTTP routes, mounted by the host under `/plugins/{id}`.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Pages and panels for the admin console.
    #[serde(default)]
    pub ui: Vec<UiContribution>,
    /// Tools for agents (as MCP tools).
    #[serde(default)]
    pub tools: Vec<Tool>,
}

/// When a config runs, by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// A cron expression with seconds (`0 */5 * * * *`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Or a fixed interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// Anyone (webhooks).
    Public,
    /// A token of some tenant; the plugin learns which.
    Tenant,
    /// The admin only.
    Admin,
}

/// An HTTP route of the plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path below `/plugins/{id}`, starting with `/`; `{name}` matches one segment.
    pub path: String,
    /// Who may call it.
    pub auth: RouteAuth,
}

/// A page or panel the plugin adds to the admin console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiContribution {
    /// Unique within the plugin.
    pub id: String,
    /// What the console shows in its menu.
    pub title: String,
    /// One of the plugin's `GET` routes that serves the page.
    pub path: String,
}

/// A tool agents can call (as MCP's tool definition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Unique within the plugin.
    pub name: String,
    /// What it does, for the agent.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its arguments.
    #[serde(default)]
    pub input_schema: Value,
}
