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
    /// Or a fixed interval. `interval_seconds`, as configs spell it, is taken too.
    #[serde(
        default,
        alias = "interval_seconds",
        skip_serializing_if = "Option::is_none"
    )]
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
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path below `/plugins/{id}`, starting with `/`; `{name}` matches one segment.
    pub path: String,
    /// Who may call it.
    pub auth: RouteAuth,
    /// True for the route that receives the deliveries of each config's webhook address
    /// (`/hooks/{config}/{secret}`), with that config attached. At most one route per plugin,
    /// without `{name}` segments.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub webhook: bool,
    /// One line on what it does, for the API's OpenAPI document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// JSON Schema of a JSON request body, for the OpenAPI document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_schema: Option<Value>,
    /// JSON Schema of a JSON answer, for the OpenAPI document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
}

/// A page the plugin adds to the admin console (docs/plugin-pages.md): the console lists it
/// under the plugin and shows it in a sandboxed frame, loaded from the plugin's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UiContribution {
    /// Unique within the plugin: letters, digits, `-` and `_`, at most 64.
    pub id: String,
    /// What the console shows in its menu.
    pub title: String,
    /// The path of one of the plugin's `public` `GET` routes without `{name}` segments, which
    /// serves the page's document. The page reads data through the console's message API,
    /// which calls the plugin's other routes with the signed-in user's token.
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

/// One segment of a route's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSegment<'a> {
    /// Matches this text exactly (after percent-decoding the request's segment).
    Literal(&'a str),
    /// `{name}`: matches any one segment.
    Param(&'a str),
}

impl Route {
    /// The segments of the route's path (`/` has none). Call [`Metadata::check_routes`] first:
    /// a path it refuses has no meaningful segments.
    pub fn segments(&self) -> Vec<RouteSegment<'_>> {
        self.path
            .split('/')
            .skip(1)
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                match segment
                    .strip_prefix('{')
                    .and_then(|rest| rest.strip_suffix('}'))
                {
                    Some(name) => RouteSegment::Param(name),
                    None => RouteSegment::Literal(segment),
                }
            })
            .collect()
    }
}

impl Metadata {
    /// Checks the declared routes: each path starts with `/`, has no empty, `.` or `..`
    /// segment, and names each `{param}` once with letters, digits and `_`; each method is an
    /// HTTP token in upper case; no two routes share a method and path; at most one route is
    /// the webhook route, and it is `public` and has no `{param}`.
    ///
    /// # Errors
    /// The first problem, naming the route.
    pub fn check_routes(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut webhooks = 0;
        for (index, route) in self.routes.iter().enumerate() {
            let here = format!("routes[{index}] ({} {})", route.method, route.path);
            if route.method.is_empty()
                || !route.method.bytes().all(|byte| byte.is_ascii_uppercase())
            {
                return Err(format!(
                    "{here}: the method must be an HTTP method in upper case, like GET or POST"
                ));
            }
            if !route.path.starts_with('/') {
                return Err(format!("{here}: the path must start with /"));
            }
            let mut params = std::collections::BTreeSet::new();
            if route.path != "/" {
                for segment in route.path.split('/').skip(1) {
                    if segment.is_empty() || segment == "." || segment == ".." {
                        return Err(format!(
                            "{here}: the path has an empty, `.` or `..` segment"
                        ));
                    }
                    if let Some(name) = segment
                        .strip_prefix('{')
                        .and_then(|rest| rest.strip_suffix('}'))
                    {
                        if name.is_empty()
                            || !name
                                .bytes()
                                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
                        {
                            return Err(format!(
                                "{here}: `{segment}` must name its parameter with letters, digits and _"
                            ));
                        }
                        if !params.insert(name) {
                            return Err(format!("{here}: the parameter `{name}` appears twice"));
                        }
                    } else if segment.contains(['{', '}', '%', '?', '#']) {
                        return Err(format!(
                            "{here}: `{segment}` may not contain {{, }}, %, ? or # (a parameter is a whole segment, `{{name}}`)"
                        ));
                    }
                }
            }
            let shape: Vec<&str> = route
                .segments()
                .into_iter()
                .map(|segment| match segment {
                    RouteSegment::Literal(text) => text,
                    RouteSegment::Param(_) => "{}",
                })
                .collect();
            if !seen.insert((route.method.as_str(), shape)) {
                return Err(format!(
                    "{here}: another route has the same method and path"
                ));
            }
            if route.webhook {
                webhooks += 1;
                if webhooks > 1 {
                    return Err(format!("{here}: only one route may be the webhook route"));
                }
                if !params.is_empty() {
                    return Err(format!(
                        "{here}: the webhook route cannot have {{param}} segments (its address is /hooks/{{config}}/{{secret}})"
                    ));
                }
                if route.auth != RouteAuth::Public {
                    return Err(format!(
                        "{here}: the webhook route must be `public` (the secret in its address is what admits a delivery)"
                    ));
                }
            }
        }
        self.check_pages()
    }

    /// Checks the console pages: each names a `public` `GET` route without parameters (a frame
    /// cannot send a token), with an id unique within the plugin.
    fn check_pages(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for (index, page) in self.ui.iter().enumerate() {
            let here = format!("ui[{index}] ({})", page.id);
            if page.id.is_empty()
                || page.id.len() > 64
                || !page
                    .id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            {
                return Err(format!(
                    "{here}: the id must be 1 to 64 letters, digits, - or _"
                ));
            }
            if !ids.insert(page.id.as_str()) {
                return Err(format!("{here}: another page has the same id"));
            }
            if page.title.trim().is_empty() {
                return Err(format!("{here}: the title is empty"));
            }
            let route = self
                .routes
                .iter()
                .find(|route| route.method == "GET" && route.path == page.path);
            match route {
                None => {
                    return Err(format!(
                        "{here}: the path {} is not one of the plugin's GET routes; declare the route that serves the page",
                        page.path
                    ))
                }
                Some(route) if route.auth != RouteAuth::Public => {
                    return Err(format!(
                        "{here}: the route GET {} must be `public`: the console loads a page in a frame, which cannot send a token; fetch data through the console's message API instead (docs/plugin-pages.md)",
                        page.path
                    ))
                }
                Some(route) if route.path.contains('{') => {
                    return Err(format!(
                        "{here}: the page's route GET {} cannot have {{name}} segments",
                        page.path
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, webhook: bool) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            auth: RouteAuth::Public,
            webhook,
            summary: None,
            request_schema: None,
            response_schema: None,
        }
    }

    fn check(routes: Vec<Route>) -> Result<(), String> {
        Metadata {
            routes,
            ..Metadata::default()
        }
        .check_routes()
    }

    #[test]
    fn good_routes_pass_and_split_into_segments() {
        let routes = vec![
            route("GET", "/", false),
            route("GET", "/items/{id}", false),
            route("POST", "/items/{id}", false),
            route("GET", "/items/{id}/parts/{part_no}", false),
            route("POST", "/github", true),
        ];
        assert_eq!(check(routes.clone()), Ok(()));
        assert_eq!(routes[0].segments(), []);
        assert_eq!(
            routes[3].segments(),
            [
                RouteSegment::Literal("items"),
                RouteSegment::Param("id"),
                RouteSegment::Literal("parts"),
                RouteSegment::Param("part_no"),
            ]
        );
    }

    #[test]
    fn routes_the_host_cannot_mount_are_refused_with_the_reason() {
        for (routes, reason) in [
            (vec![route("get", "/a", false)], "upper case"),
            (vec![route("GET", "a", false)], "start with /"),
            (vec![route("GET", "/a//b", false)], "empty"),
            (vec![route("GET", "/a/../b", false)], "`..`"),
            (vec![route("GET", "/a/{}", false)], "name its parameter"),
            (vec![route("GET", "/a/{x-y}", false)], "name its parameter"),
            (vec![route("GET", "/{id}/{id}", false)], "twice"),
            (vec![route("GET", "/a{id}", false)], "whole segment"),
            (vec![route("GET", "/a%2fb", false)], "whole segment"),
            (
                vec![route("GET", "/a/{x}", false), route("GET", "/a/{y}", false)],
                "same method and path",
            ),
            (
                vec![route("POST", "/a", true), route("POST", "/b", true)],
                "only one",
            ),
            (vec![route("POST", "/a/{x}", true)], "webhook route cannot"),
            (
                vec![Route {
                    auth: RouteAuth::Admin,
                    ..route("POST", "/a", true)
                }],
                "must be `public`",
            ),
        ] {
            let refused = check(routes).expect_err("refused");
            assert!(
                refused.contains(reason),
                "`{refused}` should say `{reason}`"
            );
        }
    }

    #[test]
    fn console_pages_name_a_public_get_route() {
        let page = |id: &str, path: &str| UiContribution {
            id: id.to_owned(),
            title: "A page".to_owned(),
            path: path.to_owned(),
        };
        let routes = vec![
            route("GET", "/ui", false),
            route("GET", "/ui/{x}", false),
            Route {
                auth: RouteAuth::Admin,
                ..route("GET", "/data", false)
            },
        ];
        let pages = |ui: Vec<UiContribution>| {
            Metadata {
                routes: routes.clone(),
                ui,
                ..Metadata::default()
            }
            .check_routes()
        };
        assert_eq!(pages(vec![page("main", "/ui")]), Ok(()));
        for (ui, reason) in [
            (
                vec![page("main", "/nowhere")],
                "not one of the plugin's GET routes",
            ),
            (vec![page("main", "/data")], "must be `public`"),
            (vec![page("main", "/ui/{x}")], "cannot have {name}"),
            (vec![page("a b", "/ui")], "letters, digits"),
            (vec![page("main", "/ui"), page("main", "/ui")], "same id"),
        ] {
            let refused = pages(ui).expect_err("refused");
            assert!(
                refused.contains(reason),
                "`{refused}` should say `{reason}`"
            );
        }
    }

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
