//! Plugin routes: `/plugins/{plugin}/…`, passed on to the plugin's `http` handler after the
//! host checked everything it can.
//!
//! A request reaches the plugin only after, in order: the per-address rate limit; a path that
//! cannot escape its segment (no `.` or `..`, plain or percent-encoded, no encoded slash or
//! NUL, UTF-8 once decoded); a route of the version running on this node that matches it; the
//! route's `auth` (`public`; `tenant`: a token scoped to a tenant, read tokens only for `GET`
//! and `HEAD`; `admin`: the admin token) and the per-token rate limit; and a body within
//! `route_max_body_mb`, refused with `413` from its `Content-Length` before a byte of it is
//! read. The plugin gets the decoded `{param}` values, the caller's tenant and access, and the
//! headers without credentials (`Authorization`, `Cookie`, `Proxy-Authorization`) or hop-by-hop
//! ones. Its answer loses hop-by-hop headers and `Set-Cookie` (a plugin shares the host's
//! origin), and gains `X-Content-Type-Options: nosniff` and a `Content-Security-Policy: sandbox`
//! that gives a plugin's page an origin of its own.
//!
//! Failures are problem documents: no plugin or route `404`, wrong method `405`, no instance
//! ready `503` with `Retry-After`, an error answer or a crash `502`, no answer within
//! `route_timeout_ms` `504` (the request is cancelled in the plugin).
//!
//! `/hooks/{config}/{secret}` (`hooks.rs`) reaches the plugin's webhook route through
//! [`call_plugin`], with the config attached.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use plugboard_protocol::metadata::{Route, RouteAuth, RouteSegment};
use plugboard_protocol::methods::{HttpConfig, HttpParams};

use super::auth::{self, Caller};
use super::local::{PluginCallError, PluginEndpoint};
use super::problem::ApiError;
use super::AppState;
use crate::store::TokenAccess;

/// The longest a request waits for a ready instance (a restart after a crash takes a moment).
const READY_WITHIN: Duration = Duration::from_secs(10);

/// What `Retry-After` says when no instance is ready.
const RETRY_AFTER_SECS: u64 = 1;

/// Limits of plugin routes.
#[derive(Debug, Clone, Copy)]
pub struct RouteLimits {
    /// The largest request body, in bytes (`route_max_body_mb`).
    pub max_body: usize,
    /// How long the plugin may take to answer (`route_timeout_ms`).
    pub timeout: Duration,
}

impl Default for RouteLimits {
    fn default() -> RouteLimits {
        RouteLimits {
            max_body: 10 * 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Request headers the plugin never sees: credentials and hop-by-hop headers.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    // The API also takes a token as the WebSocket subprotocol `bearer.TOKEN`.
    "sec-websocket-protocol",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Response headers the caller never gets from a plugin: hop-by-hop ones, lengths the host
/// works out itself, and cookies on the host's origin.
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "content-length",
    "set-cookie",
    // Headers that act on the whole origin (or its subdomains), beyond the plugin's answer.
    "clear-site-data",
    "strict-transport-security",
    "alt-svc",
    "service-worker-allowed",
    "public-key-pins",
    "public-key-pins-report-only",
];

/// Route requests of one plugin on this node, in flight or waiting for a process; more are
/// answered `503` at once.
pub const REQUESTS_PER_PLUGIN: usize = 256;

/// Request bodies held by route requests on this node at once, in bytes; more are answered
/// `503` at once.
pub const BODY_BUDGET: usize = 128 * 1024 * 1024;

/// What route requests hold on this node now: requests per plugin, and bytes of bodies.
#[derive(Default)]
pub(super) struct RouteLoad {
    requests: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    buffered: std::sync::atomic::AtomicUsize,
}

/// A request's place among its plugin's; given back when dropped.
pub(super) struct RequestSlot {
    load: Arc<RouteLoad>,
    plugin: String,
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        let mut requests = self
            .load
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = requests.get_mut(&self.plugin) {
            *count -= 1;
            if *count == 0 {
                requests.remove(&self.plugin);
            }
        }
    }
}

/// Bytes of a body held by a request; given back when dropped.
pub(super) struct BodyHold {
    load: Arc<RouteLoad>,
    bytes: usize,
}

impl BodyHold {
    fn grow(&mut self, bytes: usize) -> bool {
        let before = self
            .load
            .buffered
            .fetch_add(bytes, std::sync::atomic::Ordering::AcqRel);
        self.bytes += bytes;
        before + bytes <= BODY_BUDGET
    }
}

impl Drop for BodyHold {
    fn drop(&mut self) {
        self.load
            .buffered
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

impl RouteLoad {
    /// A place for one more request of `plugin` (a plugin loaded here: keys stay bounded).
    pub(super) fn enter(self: &Arc<Self>, plugin: &str) -> Result<RequestSlot, ApiError> {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = requests.entry(plugin.to_owned()).or_default();
        if *count >= REQUESTS_PER_PLUGIN {
            return Err(not_ready(format!(
                "plugin `{plugin}` has {REQUESTS_PER_PLUGIN} requests in flight or waiting on this node"
            )));
        }
        *count += 1;
        Ok(RequestSlot {
            load: self.clone(),
            plugin: plugin.to_owned(),
        })
    }
}

/// The sandbox every plugin answer runs in when a browser shows it: an origin of its own, so
/// its scripts cannot use the console's credentials.
const PLUGIN_CSP: &str = "sandbox allow-scripts allow-forms allow-popups allow-downloads";

/// `/plugins/{plugin}` and `/plugins/{plugin}/{*rest}`, any method.
pub(super) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let mut labels = None;
    let (mut parts, body) = request.into_parts();
    let mut body = Some(body);
    let outcome = route(&state, &mut parts, &mut body, &mut labels).await;
    answer(&state, started, &method, labels, outcome, body).await
}

/// The answer to a request for a plugin: what the plugin answered, or the refusal (reading a
/// body left unread first), counted by plugin and route once a route matched.
pub(super) async fn answer(
    state: &AppState,
    started: Instant,
    method: &Method,
    labels: Option<(String, String)>,
    outcome: Result<Response, ApiError>,
    unread: Option<Body>,
) -> Response {
    let response = match outcome {
        Ok(response) => response,
        Err(error) => super::problem::refused(error, unread).await,
    };
    if let Some((plugin, route)) = labels {
        state.metrics.record_plugin_route(
            plugin,
            route,
            method.as_str().to_owned(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    response
}

/// Who the host found the caller to be, as the plugin is told.
pub(super) struct Access {
    pub access: &'static str,
    pub tenant: Option<String>,
    pub config: Option<HttpConfig>,
}

async fn route(
    state: &AppState,
    parts: &mut axum::http::request::Parts,
    body: &mut Option<Body>,
    labels: &mut Option<(String, String)>,
) -> Result<Response, ApiError> {
    let address = client_address(parts);
    state
        .limits
        .per_address
        .check(&address)
        .map_err(|wait| super::rate_limited("this client address", wait))?;
    let path = parts.uri.path().to_owned();
    let rest = path.strip_prefix("/plugins/").unwrap_or_default();
    let (raw_plugin, raw_rest) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let plugin = decode_segment(raw_plugin)?;
    let segments = split_path(raw_rest)?;
    let endpoint = endpoint(state, &plugin)?;
    let Some(declared) = endpoint.declared() else {
        return Err(not_ready(format!(
            "plugin `{plugin}` has not started yet on this node"
        )));
    };
    let request_method = parts.method.clone();
    let (route, params, effective_method) =
        match_route(&declared.routes, &request_method, &segments).map_err(|allowed| {
            if allowed.is_empty() {
                ApiError::NotFound(format!(
                    "plugin `{plugin}` has no route {} {raw_rest}; its routes are listed in GET /api/v1/openapi.json under the tag plugin:{plugin}",
                    request_method
                ))
            } else {
                ApiError::MethodNotAllowed(format!(
                    "{request_method} is not allowed on /plugins/{plugin}{raw_rest}; use {}",
                    allowed.join(", ")
                ))
            }
        })?;
    *labels = Some((plugin.clone(), route.path.clone()));
    let _slot = state.route_load.enter(&plugin)?;
    // Only `Authorization` carries a token to a plugin route, and no token reaches the plugin.
    parts.headers.remove(header::SEC_WEBSOCKET_PROTOCOL);
    let access = check_auth(state, parts, route, &request_method).await?;
    let (body, _hold) = read_body(state, &parts.headers, body).await?;
    let params = HttpParams {
        method: effective_method.as_str().to_owned(),
        path: if raw_rest.is_empty() {
            "/".to_owned()
        } else {
            raw_rest.to_owned()
        },
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: forwarded_headers(&parts.headers),
        body: base64::engine::general_purpose::STANDARD.encode(&body),
        tenant: access.tenant,
        route: route.path.clone(),
        params,
        access: access.access.to_owned(),
        config: access.config,
    };
    drop(body);
    let head = request_method == Method::HEAD;
    call_plugin(state, &plugin, endpoint, route, &params, head).await
}

/// The plugin's version running here, or `404`/`503`.
pub(super) fn endpoint(
    state: &AppState,
    plugin: &str,
) -> Result<Arc<dyn PluginEndpoint>, ApiError> {
    let Some(plugins) = &state.local.plugins else {
        return Err(ApiError::Unavailable(
            "this server runs no plugins; send the request to a node that does".to_owned(),
        ));
    };
    plugins.endpoint(plugin).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no plugin `{plugin}` is enabled on this node; GET /api/v1/plugins lists the installed plugins and their state"
        ))
    })
}

/// Sends the request to the plugin and turns its answer into the response. A version that
/// stopped just before (an update switched) is asked again at its successor, only when the
/// successor declares `route` exactly as it was matched and checked.
pub(super) async fn call_plugin(
    state: &AppState,
    plugin: &str,
    endpoint: Arc<dyn PluginEndpoint>,
    route: &Route,
    params: &HttpParams,
    head: bool,
) -> Result<Response, ApiError> {
    let limits = state.routes;
    let ready_within = READY_WITHIN.min(limits.timeout);
    let mut endpoint = endpoint;
    let mut attempts = 0;
    let answer = loop {
        attempts += 1;
        match endpoint.http(params, ready_within, limits.timeout).await {
            Err(PluginCallError::Stopped(reason)) if attempts < 3 => {
                tracing::debug!(plugin, %reason, "asking the plugin's current version");
                endpoint = self::endpoint(state, plugin)?;
                let same = endpoint
                    .declared()
                    .is_some_and(|declared| declared.routes.iter().any(|known| known == route));
                if !same {
                    return Err(not_ready(format!(
                        "plugin `{plugin}` changed to version {} while the request waited, and that version declares {} {} otherwise; send the request again",
                        endpoint.version(),
                        route.method,
                        route.path
                    )));
                }
            }
            other => break other,
        }
    };
    let answer = answer.map_err(|error| match error {
        PluginCallError::NotReady(reason) | PluginCallError::Stopped(reason) => not_ready(reason),
        PluginCallError::Failed { .. } => not_ready(format!(
            "{error}; GET /api/v1/plugins/{plugin} and the server's log say why"
        )),
        PluginCallError::NotLoaded(_) => ApiError::NotFound(error.to_string()),
        PluginCallError::TimedOut(reason) => ApiError::PluginTimeout(reason),
        PluginCallError::Answered(reason) | PluginCallError::Crashed(reason) => {
            ApiError::PluginError(reason)
        }
        // A plugin that declares routes and cannot serve them fails its own promise.
        error @ PluginCallError::NotImplemented { .. } => ApiError::PluginError(error.to_string()),
    })?;
    let status = StatusCode::from_u16(answer.status)
        .ok()
        .filter(|status| (200..=599).contains(&status.as_u16()))
        .ok_or_else(|| {
            ApiError::PluginError(format!(
                "plugin `{plugin}` answered with status {}, which is not an HTTP status from 200 to 599",
                answer.status
            ))
        })?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(answer.body.as_bytes())
        .map_err(|error| {
            ApiError::PluginError(format!(
                "plugin `{plugin}` answered a body that is not base64: {error}"
            ))
        })?;
    let mut headers = HeaderMap::new();
    for (name, value) in &answer.headers {
        let name = name.to_ascii_lowercase();
        if DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(ApiError::PluginError(format!(
                "plugin `{plugin}` answered a header that is not valid HTTP: `{name}`"
            )));
        };
        headers.append(name, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PLUGIN_CSP),
    );
    let length = body.len();
    let mut response = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if head {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(response)
}

fn not_ready(reason: String) -> ApiError {
    ApiError::PluginUnavailable {
        detail: format!("{reason}; try again in a moment"),
        retry_after_secs: RETRY_AFTER_SECS,
    }
}

pub(super) fn client_address(parts: &axum::http::request::Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One raw path segment, percent-decoded and checked: never `.` or `..`, a slash, a backslash
/// or NUL, always UTF-8.
fn decode_segment(raw: &str) -> Result<String, ApiError> {
    let refused = |why: &str| {
        ApiError::BadRequest(format!(
            "the path segment `{raw}` {why}; plugin routes take plain segments"
        ))
    };
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| refused("is not UTF-8 once percent-decoded"))?;
    if decoded == "." || decoded == ".." {
        return Err(refused("is a `.` or `..` segment"));
    }
    if decoded.contains(['/', '\\', '\0']) {
        return Err(refused("holds an encoded slash, a backslash or NUL"));
    }
    Ok(decoded.into_owned())
}

/// The decoded segments of the path below `/plugins/{plugin}` (`` and `/` have none).
fn split_path(raw: &str) -> Result<Vec<String>, ApiError> {
    if raw.is_empty() || raw == "/" {
        return Ok(Vec::new());
    }
    raw.split('/').skip(1).map(decode_segment).collect()
}

/// A route that matches a request: the route, its decoded `{param}` values and the method the
/// plugin is sent.
type Matched<'a> = (&'a Route, BTreeMap<String, String>, Method);

/// The route that matches `method` and `segments` (`HEAD` reaches a `GET` route as `GET`). A
/// more literal route wins over one with more parameters. `Err` lists the methods that would
/// match the path (empty: none).
fn match_route<'a>(
    routes: &'a [Route],
    method: &Method,
    segments: &[String],
) -> Result<Matched<'a>, Vec<String>> {
    let mut best: Option<(&Route, BTreeMap<String, String>, usize, Method)> = None;
    let mut allowed: Vec<String> = Vec::new();
    for route in routes {
        let shape = route.segments();
        if shape.len() != segments.len() {
            continue;
        }
        let mut params = BTreeMap::new();
        let mut literals = 0;
        let fits = shape
            .iter()
            .zip(segments)
            .all(|(part, segment)| match part {
                RouteSegment::Literal(text) => {
                    literals += 1;
                    *text == segment.as_str()
                }
                RouteSegment::Param(name) => {
                    params.insert((*name).to_owned(), segment.clone());
                    !segment.is_empty()
                }
            });
        if !fits {
            continue;
        }
        let effective = if route.method == method.as_str() {
            method.clone()
        } else if *method == Method::HEAD && route.method == "GET" {
            Method::GET
        } else {
            if !allowed.contains(&route.method) {
                allowed.push(route.method.clone());
            }
            continue;
        };
        // An exact method beats HEAD-as-GET; then more literal segments win.
        let rank = literals * 2 + usize::from(effective == *method);
        if best.as_ref().is_none_or(|(_, _, known, _)| rank > *known) {
            best = Some((route, params, rank, effective));
        }
    }
    match best {
        Some((route, params, _, effective)) => Ok((route, params, effective)),
        None => {
            if allowed.iter().any(|known| known == "GET") {
                allowed.push("HEAD".to_owned());
            }
            Err(allowed)
        }
    }
}

async fn check_auth(
    state: &AppState,
    parts: &axum::http::request::Parts,
    route: &Route,
    method: &Method,
) -> Result<Access, ApiError> {
    let caller = match route.auth {
        RouteAuth::Public => {
            return Ok(Access {
                access: "public",
                tenant: None,
                config: None,
            })
        }
        RouteAuth::Tenant | RouteAuth::Admin => {
            auth::authenticate(parts, &state.admin, state.queue.store().as_ref()).await?
        }
    };
    state
        .limits
        .per_token
        .check(caller.label())
        .map_err(|wait| super::rate_limited("this token", wait))?;
    match (route.auth, &caller) {
        (RouteAuth::Admin, _) => {
            caller.require_admin()?;
            Ok(Access {
                access: "admin",
                tenant: None,
                config: None,
            })
        }
        (_, Caller::Token(token)) if token.tenant.is_some() => {
            let tenant = token.tenant.as_deref().unwrap_or_default();
            if state.queue.store().tenant_get(tenant).await?.is_none() {
                return Err(ApiError::Forbidden(format!(
                    "token {} belongs to tenant {tenant}, which no longer exists",
                    token.id
                )));
            }
            let access = match token.access {
                TokenAccess::Read => {
                    if !matches!(*method, Method::GET | Method::HEAD) {
                        return Err(ApiError::Forbidden(format!(
                            "token {} may only read, so it may call this route with GET or HEAD only; ask the admin for a token with write access",
                            token.id
                        )));
                    }
                    "read"
                }
                TokenAccess::Write | TokenAccess::Admin => "write",
            };
            Ok(Access {
                access,
                tenant: token.tenant.clone(),
                config: None,
            })
        }
        _ => Err(ApiError::Forbidden(format!(
            "this route acts for one tenant: call it with a token scoped to a tenant, not {}",
            if caller.is_admin() {
                "the admin token".to_owned()
            } else {
                format!("the global token {}", caller.label())
            }
        ))),
    }
}

/// Reads the body up to `route_max_body_mb` within `route_timeout_ms`: a `Content-Length`
/// above the cap is refused before a byte is read, a body that grows past it while streaming
/// is cut off, and bodies beyond [`BODY_BUDGET`] on this node wait for none: `503`. The hold
/// gives the bytes back when dropped. Takes the body out of `body`.
pub(super) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<(Vec<u8>, BodyHold), ApiError> {
    let unread = body.take().unwrap_or_default();
    read_body_timed(state, headers, unread).await
}

async fn read_body_timed(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Vec<u8>, BodyHold), ApiError> {
    let timeout = state.routes.timeout;
    tokio::time::timeout(timeout, read_body_within(state, headers, body))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::RequestTimeout(format!(
                "the body did not arrive within {} ms (route_timeout_ms); send it faster",
                timeout.as_millis()
            )))
        })
}

async fn read_body_within(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Vec<u8>, BodyHold), ApiError> {
    let max = state.routes.max_body;
    let mut hold = BodyHold {
        load: state.route_load.clone(),
        bytes: 0,
    };
    let busy = || {
        not_ready(
            "this node holds as many request bodies for plugin routes as it allows".to_owned(),
        )
    };
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the body is larger than plugin routes accept ({} MiB, route_max_body_mb); send less",
            max / (1024 * 1024)
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(too_large());
    }
    let expected = declared.unwrap_or(0) as usize;
    // The base64 copy the plugin is sent holds as much again.
    if !hold.grow(expected.saturating_mul(2)) {
        return Err(busy());
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::with_capacity(expected);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|error| ApiError::BadRequest(format!("cannot read the body: {error}")))?;
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
        let beyond = (bytes.len() * 2).saturating_sub(hold.bytes);
        if beyond > 0 && !hold.grow(beyond) {
            return Err(busy());
        }
    }
    Ok((bytes, hold))
}

/// The request's headers as the plugin gets them: lower-case names, one value per name
/// (repeated ones joined with `, `), without credentials and hop-by-hop headers.
pub(super) fn forwarded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    // Headers the caller named in `Connection` are hop-by-hop too.
    let hop_by_hop: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut forwarded: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        if DROPPED_REQUEST_HEADERS.contains(&name) || hop_by_hop.iter().any(|hop| hop == name) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        forwarded
            .entry(name.to_owned())
            .and_modify(|known| {
                known.push_str(", ");
                known.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    forwarded
}

/// Adds the routes of the plugins this node serves to the OpenAPI document, under a tag per
/// plugin (`plugin:{id}`), with the request and response schemas their metadata gives.
pub(super) fn document_plugin_routes(state: &AppState, document: &mut serde_json::Value) {
    let Some(local) = &state.local.plugins else {
        return;
    };
    let mut ids: Vec<String> = local
        .plugins()
        .into_iter()
        .map(|plugin| plugin.id)
        .collect();
    ids.sort();
    for id in ids {
        let Some(endpoint) = local.endpoint(&id) else {
            continue;
        };
        let Some(metadata) = endpoint.declared() else {
            continue;
        };
        if metadata.routes.is_empty() {
            continue;
        }
        let tag = format!("plugin:{id}");
        if let Some(tags) = document["tags"].as_array_mut() {
            tags.push(serde_json::json!({
                "name": tag,
                "description": format!(
                    "Routes of plugin {id} (version {}), served by its process through the host",
                    endpoint.version()
                ),
            }));
        }
        for route in &metadata.routes {
            let path = format!(
                "/plugins/{id}{}",
                if route.path == "/" { "/" } else { &route.path }
            );
            let operation = route_operation(&id, route, &tag);
            let method = route.method.to_ascii_lowercase();
            if let Some(paths) = document["paths"].as_object_mut() {
                let entry = paths.entry(path).or_insert_with(|| serde_json::json!({}));
                entry[method] = operation;
            }
        }
    }
}

fn route_operation(plugin: &str, route: &Route, tag: &str) -> serde_json::Value {
    use serde_json::json;
    let problem = json!({
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    });
    let mut responses = serde_json::Map::new();
    let mut ok = json!({"description": "The plugin's answer"});
    if let Some(schema) = &route.response_schema {
        ok["content"] = json!({"application/json": {"schema": schema}});
    }
    responses.insert("200".to_owned(), ok);
    let mut refusals = vec![
        (
            "400",
            "A path segment that could escape (`..`, an encoded slash)",
        ),
        ("404", "No such plugin or route on this node"),
        ("413", "The body is over route_max_body_mb"),
        ("429", "Rate limited"),
        (
            "502",
            "The plugin answered with an error or ended while handling the request",
        ),
        ("503", "No instance of the plugin is ready; see Retry-After"),
        ("504", "The plugin did not answer within route_timeout_ms"),
    ];
    if route.auth != RouteAuth::Public {
        refusals.push(("401", "No usable token"));
        refusals.push(("403", "The token may not call this route"));
    }
    for (status, description) in refusals {
        let mut answer = problem.clone();
        answer["description"] = json!(description);
        responses.insert(status.to_owned(), answer);
    }
    let parameters: Vec<serde_json::Value> = route
        .segments()
        .into_iter()
        .filter_map(|segment| match segment {
            RouteSegment::Param(name) => Some(json!({
                "name": name, "in": "path", "required": true, "schema": {"type": "string"}
            })),
            RouteSegment::Literal(_) => None,
        })
        .collect();
    let who = match route.auth {
        RouteAuth::Public => "Anyone may call it.",
        RouteAuth::Tenant => "Needs a token scoped to a tenant (read tokens: GET and HEAD only).",
        RouteAuth::Admin => "Needs the admin token.",
    };
    let mut operation = json!({
        "tags": [tag],
        "operationId": format!("plugin:{plugin}:{} {}", route.method, route.path),
        "summary": route.summary.clone().unwrap_or_else(|| format!("{} {}", route.method, route.path)),
        "description": format!(
            "{who}{}",
            if route.webhook { " Receives each config's webhook deliveries at /hooks/{config}/{secret}." } else { "" }
        ),
        "parameters": parameters,
        "responses": responses,
    });
    operation["security"] = if route.auth == RouteAuth::Public {
        json!([])
    } else {
        json!([{"bearer": []}])
    };
    if let Some(schema) = &route.request_schema {
        operation["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    operation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            auth: RouteAuth::Public,
            webhook: false,
            summary: None,
            request_schema: None,
            response_schema: None,
        }
    }

    fn segments(path: &str) -> Vec<String> {
        split_path(path).expect("a plain path")
    }

    #[test]
    fn the_most_literal_route_wins_and_params_arrive_decoded() {
        let routes = [
            route("GET", "/items/{id}"),
            route("GET", "/items/new"),
            route("POST", "/items/{id}"),
            route("GET", "/"),
        ];
        let (found, params, method) =
            match_route(&routes, &Method::GET, &segments("/items/a%20b")).expect("matches");
        assert_eq!((found.path.as_str(), method), ("/items/{id}", Method::GET));
        assert_eq!(params.get("id").map(String::as_str), Some("a b"));
        let (found, _, _) =
            match_route(&routes, &Method::GET, &segments("/items/new")).expect("matches");
        assert_eq!(found.path, "/items/new");
        let (found, _, method) = match_route(&routes, &Method::HEAD, &segments("/")).expect("HEAD");
        assert_eq!((found.path.as_str(), method), ("/", Method::GET));
        assert_eq!(
            match_route(&routes, &Method::DELETE, &segments("/items/x")).map(|_| ()),
            Err(vec!["GET".to_owned(), "POST".to_owned(), "HEAD".to_owned()])
        );
        assert_eq!(
            match_route(&routes, &Method::GET, &segments("/nothing")).map(|_| ()),
            Err(vec![])
        );
        assert!(match_route(&routes, &Method::GET, &segments("/items/x/")).is_err());
    }

    #[test]
    fn requests_per_plugin_and_bodies_are_capped_and_given_back() {
        let load = Arc::new(RouteLoad::default());
        let slots: Vec<RequestSlot> = (0..REQUESTS_PER_PLUGIN)
            .map(|_| load.enter("busy").expect("room"))
            .collect();
        assert!(matches!(
            load.enter("busy"),
            Err(ApiError::PluginUnavailable { .. })
        ));
        assert!(load.enter("other").is_ok(), "each plugin has its own");
        drop(slots);
        assert!(load.enter("busy").is_ok(), "places are given back");

        let mut first = BodyHold {
            load: load.clone(),
            bytes: 0,
        };
        assert!(first.grow(BODY_BUDGET));
        let mut second = BodyHold {
            load: load.clone(),
            bytes: 0,
        };
        assert!(!second.grow(1), "over the budget");
        drop(second);
        drop(first);
        assert_eq!(
            load.buffered.load(std::sync::atomic::Ordering::Acquire),
            0,
            "every byte is given back"
        );
    }

    #[test]
    fn segments_that_could_escape_are_refused() {
        for raw in [
            "/..",
            "/a/../b",
            "/%2e%2e",
            "/%2E%2e/etc",
            "/.",
            "/%2e",
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a%00b",
            "/%ff",
        ] {
            assert!(
                matches!(split_path(raw), Err(ApiError::BadRequest(_))),
                "{raw} must be refused"
            );
        }
        assert_eq!(segments("/a/b%20c/%C3%A9"), ["a", "b c", "é"]);
        assert_eq!(segments("/..."), ["..."]);
    }
}
