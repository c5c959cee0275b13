//! hello-rust: the Rust SDK's example plugin. A run greets the config's `name` (default `world`),
//! logs one line, reports progress and counts greetings per tenant in the key-value store (a job
//! whose payload says `"plain": true` only answers); it also checks configs and offers two tools
//! for agents (over plugboard's `/mcp`): `greet`, and `greetings`, how many greetings its runs gave
//! a tenant, as structured content. The host's tests and the raw RPC and MCP benchmarks
//! use it, so everything it does is quick: `ping` never reaches this code (the SDK answers it).
//!
//! Owns: nothing but its own greeting. Must not touch: the protocol loop (the SDK's).

use std::process::ExitCode;

use plugboard_sdk::{
    http, ConfigParams, ConfigProblem, ConfigTestResult, ConfigValidateResult, Content, Context,
    HttpParams, HttpResult, Metadata, Plugin, PluginError, PluginInfo, Route, RouteAuth, RunParams,
    Tool, ToolAnnotations, ToolsCallParams, ToolsCallResult, Value,
};
use serde_json::json;

/// The plugin's id, as in `plugin.toml`.
const PLUGIN_ID: &str = "hello-rust";
/// The longest name a config or the tool may give, in characters.
const NAME_MAX_CHARS: usize = 100;
/// Who is greeted when the config names nobody.
const DEFAULT_NAME: &str = "world";
/// The kv key, per tenant, of the number of greetings so far.
const GREETINGS_KEY: &str = "greetings";

struct Hello;

impl Plugin for Hello {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            id: PLUGIN_ID.to_owned(),
            name: "Hello (Rust)".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    fn metadata(&self) -> Metadata {
        let name_schema = json!({
            "type": "string",
            "maxLength": NAME_MAX_CHARS,
            "description": "Who to greet.",
        });
        let mut config_name_schema = name_schema.clone();
        config_name_schema["default"] = json!(DEFAULT_NAME);
        Metadata {
            config_schema: Some(json!({
                "type": "object",
                "properties": {"name": config_name_schema},
                "additionalProperties": false,
            })),
            tools: vec![
                Tool {
                    name: "greet".to_owned(),
                    title: Some("Greet".to_owned()),
                    description: "Greets someone by name.".to_owned(),
                    input_schema: json!({
                        "type": "object",
                        "properties": {"name": name_schema},
                        "required": ["name"],
                    }),
                    output_schema: None,
                    annotations: Some(ToolAnnotations {
                        read_only_hint: Some(true),
                        idempotent_hint: Some(true),
                        open_world_hint: Some(false),
                        ..ToolAnnotations::default()
                    }),
                },
                Tool {
                    name: "greetings".to_owned(),
                    title: Some("Greetings so far".to_owned()),
                    description: "How many greetings this plugin's runs gave the caller's tenant."
                        .to_owned(),
                    input_schema: json!({"type": "object", "additionalProperties": false}),
                    output_schema: Some(json!({
                        "type": "object",
                        "properties": {
                            "tenant": {"type": ["string", "null"]},
                            "greetings": {"type": "integer", "minimum": 0},
                        },
                        "required": ["tenant", "greetings"],
                    })),
                    annotations: Some(ToolAnnotations {
                        read_only_hint: Some(true),
                        idempotent_hint: Some(true),
                        open_world_hint: Some(false),
                        ..ToolAnnotations::default()
                    }),
                },
            ],
            routes: vec![Route {
                method: "GET".to_owned(),
                path: "/greeting/{name}".to_owned(),
                auth: RouteAuth::Public,
                webhook: false,
                summary: Some("A greeting for {name}, as JSON".to_owned()),
                request_schema: None,
                response_schema: Some(json!({
                    "type": "object",
                    "properties": {"greeting": {"type": "string"}},
                    "required": ["greeting"],
                })),
            }],
            ..Metadata::default()
        }
    }

    async fn http(&self, _ctx: Context, params: HttpParams) -> Result<HttpResult, PluginError> {
        // The only route is `GET /greeting/{name}`; the host matched it and decoded `name`.
        let name = params.params.get("name").map(String::as_str).unwrap_or("");
        Ok(match name_in(Some(&json!({ "name": name }))) {
            Ok(name) => http::json(200, &json!({"greeting": format!("hello, {name}")})),
            Err(message) => http::json(400, &json!({"error": message})),
        })
    }

    async fn run(&self, ctx: Context, params: RunParams) -> Result<Option<Value>, PluginError> {
        let values = params.config.as_ref().map(|config| &config.values);
        let name = name_in(values).map_err(PluginError::not_retryable)?;
        let greeting = format!("hello, {name}");
        // A run whose payload says `"plain": true` only answers: the benchmark uses it to measure
        // the path from the queue to the plugin and back without any host call.
        if params.payload.get("plain") == Some(&Value::Bool(true)) {
            return Ok(Some(json!({"greeting": greeting})));
        }
        ctx.progress(1.0, Some(2.0), Some("greeted"));

        let count = ctx
            .kv_get(GREETINGS_KEY)
            .await?
            .and_then(|count| count.as_u64())
            .unwrap_or(0)
            + 1;
        ctx.kv_set(GREETINGS_KEY, count).await?;
        ctx.info(format!("{greeting} (greeting {count} for this tenant)"));
        ctx.progress(2.0, Some(2.0), Some("counted"));
        Ok(Some(json!({"greeting": greeting})))
    }

    async fn validate_config(
        &self,
        _ctx: Context,
        params: ConfigParams,
    ) -> Result<ConfigValidateResult, PluginError> {
        let errors = match name_in(Some(&params.values)) {
            Ok(_) => Vec::new(),
            Err(message) => vec![ConfigProblem {
                path: "/name".to_owned(),
                message,
            }],
        };
        Ok(ConfigValidateResult {
            valid: errors.is_empty(),
            errors,
        })
    }

    async fn test_config(
        &self,
        _ctx: Context,
        params: ConfigParams,
    ) -> Result<ConfigTestResult, PluginError> {
        Ok(match name_in(Some(&params.values)) {
            Ok(name) => ConfigTestResult {
                ok: true,
                message: format!("the greeting reads \"hello, {name}\""),
                details: None,
            },
            Err(message) => ConfigTestResult {
                ok: false,
                message,
                details: None,
            },
        })
    }

    async fn call_tool(
        &self,
        ctx: Context,
        params: ToolsCallParams,
    ) -> Result<ToolsCallResult, PluginError> {
        match params.name.as_str() {
            "greet" => {
                let (text, is_error) = match name_in(Some(&params.arguments)) {
                    Ok(name) => (format!("hello, {name}"), false),
                    Err(message) => (message, true),
                };
                Ok(text_result(text, is_error, None))
            }
            "greetings" => {
                let greetings = ctx
                    .kv_get(GREETINGS_KEY)
                    .await?
                    .and_then(|count| count.as_u64())
                    .unwrap_or(0);
                let structured = json!({"tenant": params.tenant, "greetings": greetings});
                Ok(text_result(structured.to_string(), false, Some(structured)))
            }
            other => Err(PluginError::invalid_params(format!(
                "{PLUGIN_ID} has no tool `{other}`; its tools are `greet` and `greetings`"
            ))),
        }
    }
}

/// A tool's answer: one text block, and the same as JSON when the tool has an output schema.
fn text_result(text: String, is_error: bool, structured: Option<Value>) -> ToolsCallResult {
    ToolsCallResult {
        content: vec![Content {
            content_type: "text".to_owned(),
            text,
        }],
        is_error,
        structured_content: structured,
    }
}

/// The name in `values` (`{"name": ...}`): the default when absent, an error message when it is
/// not a string, blank, or too long.
fn name_in(values: Option<&Value>) -> Result<&str, String> {
    let Some(name) = values.and_then(|values| values.get("name")) else {
        return Ok(DEFAULT_NAME);
    };
    let Some(name) = name.as_str() else {
        return Err("`name` must be a string".to_owned());
    };
    if name.trim().is_empty() {
        return Err("`name` must not be empty; set `name` to who to greet".to_owned());
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(format!(
            "`name` is longer than {NAME_MAX_CHARS} characters; shorten it"
        ));
    }
    Ok(name)
}

fn main() -> ExitCode {
    match plugboard_sdk::serve_blocking(Hello) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{PLUGIN_ID}: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use plugboard_sdk::protocol::Manifest;
    use plugboard_sdk::PROTOCOL_VERSION;

    use super::*;

    #[test]
    fn the_manifest_matches_the_plugin() {
        let text = include_str!("../plugin.toml");
        let manifest = Manifest::parse(text).expect("plugin.toml is valid");
        let info = Hello.info();
        assert_eq!(manifest.id, info.id);
        assert_eq!(manifest.version, info.version);
        assert_eq!(manifest.protocol, PROTOCOL_VERSION);
        assert_eq!(manifest.command, ["./hello-rust"]);
    }

    #[test]
    fn names_default_and_are_checked() {
        assert_eq!(name_in(None), Ok("world"));
        assert_eq!(name_in(Some(&json!({}))), Ok("world"));
        assert_eq!(name_in(Some(&json!({"name": "Ada"}))), Ok("Ada"));
        assert!(name_in(Some(&json!({"name": "  "}))).is_err());
        assert!(name_in(Some(&json!({"name": 7}))).is_err());
        let longest = "é".repeat(NAME_MAX_CHARS);
        assert_eq!(
            name_in(Some(&json!({ "name": longest }))),
            Ok(longest.as_str())
        );
        assert!(name_in(Some(&json!({ "name": longest + "x" }))).is_err());
    }

    #[test]
    fn the_config_schema_bounds_the_name() {
        let schema = Hello.metadata().config_schema.expect("a config schema");
        assert_eq!(schema["properties"]["name"]["type"], "string");
        assert_eq!(schema["properties"]["name"]["maxLength"], NAME_MAX_CHARS);
    }
}
