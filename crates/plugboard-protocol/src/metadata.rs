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
    /// A name for people (MCP's `title`); absent: agents show `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// JSON Schema of the tool's structured answer (`structuredContent`); absent: the tool
    /// answers content blocks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// What the tool does to the world, as MCP's hints; absent: nothing promised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
}

/// What a tool does to the world, as MCP's tool annotations. Hints, not guarantees: the host
/// shows a read-only token only tools that say `readOnlyHint: true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// A name for people, as MCP allows here too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// True: the tool changes nothing (MCP's default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// True: the tool may destroy or overwrite (MCP's default: true when not read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// True: calling it twice with the same arguments does no more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// True: the tool reaches outside plugboard (the network, other services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl Tool {
    /// True when the tool says it changes nothing (`annotations.readOnlyHint`).
    pub fn is_read_only(&self) -> bool {
        self.annotations
            .as_ref()
            .and_then(|annotations| annotations.read_only_hint)
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_of_the_first_protocol_reads_without_the_new_fields() {
        let tool: Tool = serde_json::from_value(serde_json::json!({
            "name": "greet",
            "description": "Greets.",
            "inputSchema": {"type": "object"}
        }))
        .expect("an old tool definition reads");
        assert_eq!(tool.title, None);
        assert_eq!(tool.output_schema, None);
        assert!(!tool.is_read_only());
        let written = serde_json::to_value(&tool).expect("a tool serialises");
        assert!(written.get("annotations").is_none(), "{written}");
    }

    #[test]
    fn a_tool_reads_its_title_output_schema_and_annotations() {
        let tool: Tool = serde_json::from_value(serde_json::json!({
            "name": "count",
            "title": "Count",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object", "properties": {"count": {"type": "integer"}}},
            "annotations": {"readOnlyHint": true, "idempotentHint": true}
        }))
        .expect("a tool definition reads");
        assert_eq!(tool.title.as_deref(), Some("Count"));
        assert!(tool.output_schema.is_some());
        assert!(tool.is_read_only());
        let annotations = tool.annotations.expect("annotations");
        assert_eq!(annotations.idempotent_hint, Some(true));
        assert_eq!(annotations.destructive_hint, None);
    }
}
