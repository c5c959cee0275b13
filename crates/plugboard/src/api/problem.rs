//! Errors as RFC 9457 problem documents (`application/problem+json`), and the body and query
//! extractors whose rejections become problem documents too.
//!
//! Every error the API answers goes through [`ApiError`]: a `type` that names the kind of
//! problem (`urn:plugboard:problem:<slug>`, listed in `docs/api.md`), a `title`, the `status`,
//! a `detail` that says what to do, and for invalid input `errors`, each with the JSON pointer
//! (`pointer`) of the field and what is wrong with it. Server errors are logged with their cause
//! and answered without it.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::queue::QueueError;
use crate::store::StoreError;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer of the field in the request body (`/payload/plugin`), or the query parameter
    /// name for query strings.
    pub pointer: String,
    /// What is wrong and what is accepted.
    pub detail: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:plugboard:problem:<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// What happened and what to do.
    pub detail: String,
    /// The invalid fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every error the HTTP API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable credentials: missing, malformed, unknown, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials are good but do not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request is not well-formed (malformed JSON, a bad query string or path).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed and some fields are invalid.
    #[error("{detail}")]
    Invalid {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// The resource is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request's body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
    /// The store or another dependency is unavailable; try again.
    #[error("{0}")]
    Unavailable(String),
    /// A plugin asked on the caller's behalf has no process ready now; try again after
    /// `retry_after_secs`.
    #[error("{detail}")]
    PluginUnavailable {
        detail: String,
        retry_after_secs: u64,
    },
    /// A plugin asked on the caller's behalf answered with an error.
    #[error("{0}")]
    PluginError(String),
    /// A plugin asked on the caller's behalf did not answer in time.
    #[error("{0}")]
    PluginTimeout(String),
    /// A bug or an unexpected failure; the cause is logged, not answered.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An invalid field, as a validation problem.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        let pointer = pointer.into();
        ApiError::Invalid {
            detail: format!("invalid {}: {detail}", pointer.trim_start_matches('/')),
            errors: vec![FieldError { pointer, detail }],
        }
    }

    /// An invalid field whose message already says what is wrong (the detail is the message
    /// as it is, without an `invalid <field>:` prefix).
    pub fn invalid_field(pointer: impl Into<String>, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::Invalid {
            detail: message.clone(),
            errors: vec![FieldError {
                pointer: pointer.into(),
                detail: message,
            }],
        }
    }

    /// This error as part of a larger request: the pointers of an invalid request's fields
    /// start with `prefix` (`/jobs/3`), and so does its detail.
    pub fn within(self, prefix: &str) -> ApiError {
        match self {
            ApiError::Invalid { detail, errors } => ApiError::Invalid {
                detail: format!("{prefix}: {detail}"),
                errors: errors
                    .into_iter()
                    .map(|error| FieldError {
                        pointer: format!("{prefix}{}", error.pointer),
                        detail: error.detail,
                    })
                    .collect(),
            },
            ApiError::NotFound(detail) => ApiError::NotFound(format!("{prefix}: {detail}")),
            ApiError::Forbidden(detail) => ApiError::Forbidden(format!("{prefix}: {detail}")),
            ApiError::Conflict(detail) => ApiError::Conflict(format!("{prefix}: {detail}")),
            other => other,
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::RequestTimeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::PluginUnavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin-unavailable",
                "Plugin unavailable",
            ),
            ApiError::PluginError(_) => (StatusCode::BAD_GATEWAY, "plugin-error", "Plugin error"),
            ApiError::PluginTimeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "plugin-timeout",
                "Plugin timeout",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// The problem document this error renders as.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.parts();
        let detail = match self {
            ApiError::Internal(_) => {
                "the server failed unexpectedly; its log has the cause, try again".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("urn:plugboard:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                ApiError::Invalid { errors, .. } => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "API request failed");
        }
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::PluginUnavailable {
                retry_after_secs, ..
            } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// The most of a refused request's body the server reads to keep the connection open.
const DRAIN_BYTES: usize = 64 * 1024;

/// How long it waits for that much.
const DRAIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The answer to a refused request whose body may be unread (`Some`) or was taken (`None`).
/// An unread body goes to [`refused_before_body`]; a taken one was read whole unless the
/// refusal is about the body itself (too large, too slow, unreadable, no room for it), and then
/// the answer says `Connection: close`.
pub async fn refused(error: ApiError, body: Option<axum::body::Body>) -> Response {
    match body {
        Some(unread) => refused_before_body(error, unread).await,
        None => {
            let half_read = matches!(
                error,
                ApiError::PayloadTooLarge(_)
                    | ApiError::RequestTimeout(_)
                    | ApiError::BadRequest(_)
                    | ApiError::PluginUnavailable { .. }
            );
            let mut response = error.into_response();
            if half_read {
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    HeaderValue::from_static("close"),
                );
            }
            response
        }
    }
}

/// The answer to a request refused before its body was read (a rate limit, a missing token).
/// A small body is read and dropped, so the client's keep-alive connection stays usable; a
/// larger or slower one is not waited for, and the answer says `Connection: close`, so the
/// client knows to open a new connection instead of finding this one gone.
pub async fn refused_before_body(error: ApiError, body: axum::body::Body) -> Response {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let drained = tokio::time::timeout(DRAIN_WITHIN, async {
        let mut read = 0usize;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => read += chunk.len(),
                Err(_) => return false,
            }
            if read > DRAIN_BYTES {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    let mut response = error.into_response();
    if !drained {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    response
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Closed => ApiError::Unavailable(
                "the server is shutting down; try another node or again after it restarted"
                    .to_owned(),
            ),
            StoreError::Connect { .. } => ApiError::Unavailable(format!("{error}; try again")),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> ApiError {
        match error {
            QueueError::UnknownKind { .. } => ApiError::invalid("/kind", error.to_string()),
            QueueError::PayloadNotJson { .. } | QueueError::InvalidPayload { .. } => {
                ApiError::invalid("/payload", error.to_string())
            }
            QueueError::Invalid { field, reason } => ApiError::invalid(format!("/{field}"), reason),
            QueueError::NotFound(_) => ApiError::NotFound(error.to_string()),
            QueueError::NotRetryable { .. } => ApiError::Conflict(error.to_string()),
            QueueError::Store(error) => error.into(),
        }
    }
}

/// Path parameters whose rejections are problem documents: a parameter that is not UTF-8 once
/// percent-decoded (`/api/v1/jobs/%FF`) is a `400` that says so, not axum's plain text.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        // Nothing plugboard keeps is named with a NUL, which no store keeps (see `nul_in`).
        if parts.uri.path().to_ascii_lowercase().contains("%00") {
            return Err(ApiError::NotFound(format!(
                "there is nothing at {}: no name holds the NUL character (%00)",
                parts.uri.path()
            )));
        }
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                Err(ApiError::BadRequest(match error.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key } => format!(
                        "the path parameter `{key}` is not UTF-8 once percent-decoded; percent-encode the UTF-8 bytes of the value"
                    ),
                    _ => format!("the path is not valid: {}", error.body_text()),
                }))
            }
            Err(other) => Err(ApiError::Internal(format!(
                "path parameters could not be read: {}",
                other.body_text()
            ))),
        }
    }
}

/// A JSON request body, checked for its content type and size, whose rejections are problem
/// documents: malformed JSON says the line and column, a wrong field its JSON pointer.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body must be JSON with `Content-Type: application/json`, not `{content_type}`"
            )));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "the body is larger than this server accepts (api_body_limit_kb); send less"
                            .to_owned(),
                    )
                } else {
                    ApiError::BadRequest(format!("cannot read the body: {}", rejection.body_text()))
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Where a JSON document holds the NUL character (U+0000) in a string or a key, which
/// PostgreSQL's JSON and text cannot keep: refused on every store alike, so that a body SQLite
/// took is never one PostgreSQL fails on.
fn nul_in(bytes: &[u8]) -> Option<String> {
    // JSON writes a NUL in a string only as this escape: most bodies skip the walk.
    if !bytes.windows(6).any(|window| window == b"\\u0000") {
        return None;
    }
    fn walk(value: &serde_json::Value, pointer: &mut String) -> bool {
        let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                let found = walk(item, pointer);
                if !found {
                    pointer.truncate(length);
                }
                found
            }),
            serde_json::Value::Object(fields) => fields.iter().any(|(key, item)| {
                let length = pointer.len();
                pointer.push_str(&format!("/{}", escape(key)));
                let found = key.contains('\0') || walk(item, pointer);
                if !found {
                    pointer.truncate(length);
                }
                found
            }),
            _ => false,
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let mut pointer = String::new();
    walk(&value, &mut pointer).then_some(pointer)
}

/// Parses a JSON document into `T`, with errors that say where it broke.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(pointer) = nul_in(bytes) {
        return Err(ApiError::invalid_field(
            pointer.clone(),
            format!(
                "{} holds the NUL character (\\u0000), which plugboard does not store; remove it",
                if pointer.is_empty() {
                    "the body".to_owned()
                } else {
                    format!("`{pointer}`")
                }
            ),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let outcome = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| (json_pointer(error.path()), error.into_inner()))
        .and_then(|value| {
            deserializer
                .end()
                .map(|()| value)
                .map_err(|error| (String::new(), error))
        });
    outcome.map_err(|(pointer, inner)| match inner.classify() {
        serde_json::error::Category::Data => ApiError::Invalid {
            detail: format!(
                "invalid {}: {inner}",
                if pointer.is_empty() {
                    "body"
                } else {
                    pointer.as_str()
                }
            ),
            errors: vec![FieldError {
                pointer,
                detail: inner.to_string(),
            }],
        },
        _ => ApiError::BadRequest(format!(
            "the body is not valid JSON: {inner} (line {}, column {}); fix it and send it again",
            inner.line(),
            inner.column()
        )),
    })
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { variant } => {
                pointer.push('/');
                pointer.push_str(variant);
            }
            Segment::Unknown => {}
        }
    }
    pointer
}

/// A query string, whose rejections are problem documents.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // A NUL can only come percent-encoded; no store keeps it (see `nul_in`).
        let query = parts.uri.query().unwrap_or("");
        if let Some(pair) = query
            .split('&')
            .find(|pair| pair.to_ascii_lowercase().contains("%00"))
        {
            let name = pair.split('=').next().unwrap_or(pair);
            return Err(ApiError::invalid_field(
                name.to_owned(),
                format!("`{name}` holds the NUL character (%00), which plugboard does not store; remove it"),
            ));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| QueryParams(query.0))
            .map_err(|rejection| {
                ApiError::BadRequest(format!(
                    "{}; the query parameters are listed in /api/v1/openapi.json",
                    rejection.body_text()
                ))
            })
    }
}

/// Answers routes that do not exist.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "there is no {} here; the API's routes are listed in /api/v1/openapi.json",
        uri.path()
    ))
}

/// Answers methods a route does not have.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} does not answer {method}; /api/v1/openapi.json lists the methods of every route",
        uri.path()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_a_body_is_refused_with_its_place() {
        let refused = |text: &str| match parse_json::<serde_json::Value>(text.as_bytes()) {
            Err(ApiError::Invalid { errors, .. }) => errors[0].pointer.clone(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(refused(r#"{"source": "/a\u0000b"}"#), "/source");
        assert_eq!(refused(r#"{"p": {"a/b": [1, "x\u0000"]}}"#), "/p/a~1b/1");
        assert_eq!(refused(r#"{"k\u0000": 1}"#), "/k\u{0}");
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert!(parse_json::<serde_json::Value>(br#"{"a": "\\u0000"}"#).is_ok());
    }
}
