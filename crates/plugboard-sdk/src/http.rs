//! Helpers for route handlers ([`crate::Plugin::http`]): the request's body and headers, and
//! answers in JSON or text. Bodies travel as base64 on the wire; these do the encoding.

use base64::Engine;
use plugboard_protocol::methods::{HttpParams, HttpResult};
use serde_json::Value;

use crate::PluginError;

/// The request's body, decoded from base64.
///
/// # Errors
/// An invalid-params error when the host sent a body that is not base64 (a host bug).
pub fn body(params: &HttpParams) -> Result<Vec<u8>, PluginError> {
    base64::engine::general_purpose::STANDARD
        .decode(params.body.as_bytes())
        .map_err(|error| PluginError::invalid_params(format!("the body is not base64: {error}")))
}

/// The request's body parsed as JSON.
///
/// # Errors
/// An invalid-params error when it is not JSON, saying where it broke; answer `400` with it.
pub fn json_body(params: &HttpParams) -> Result<Value, PluginError> {
    serde_json::from_slice(&body(params)?)
        .map_err(|error| PluginError::invalid_params(format!("the body is not JSON: {error}")))
}

/// A request header by name, in any case.
pub fn header<'a>(params: &'a HttpParams, name: &str) -> Option<&'a str> {
    params
        .headers
        .get(&name.to_ascii_lowercase())
        .map(String::as_str)
}

/// An answer with `body` and this content type.
pub fn bytes(status: u16, content_type: &str, body: &[u8]) -> HttpResult {
    HttpResult {
        status,
        headers: [("content-type".to_owned(), content_type.to_owned())].into(),
        body: base64::engine::general_purpose::STANDARD.encode(body),
    }
}

/// A JSON answer.
pub fn json(status: u16, value: &Value) -> HttpResult {
    bytes(status, "application/json", value.to_string().as_bytes())
}

/// A plain text answer.
pub fn text(status: u16, text: &str) -> HttpResult {
    bytes(status, "text/plain; charset=utf-8", text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_and_bodies_round_trip_through_base64() {
        let answer = json(201, &json!({"ok": true}));
        assert_eq!(answer.status, 201);
        assert_eq!(answer.headers["content-type"], "application/json");
        let request = HttpParams {
            method: "POST".to_owned(),
            path: "/x".to_owned(),
            query: String::new(),
            headers: [("x-github-event".to_owned(), "push".to_owned())].into(),
            body: answer.body,
            tenant: None,
            route: "/x".to_owned(),
            params: Default::default(),
            access: "public".to_owned(),
            config: None,
        };
        assert_eq!(json_body(&request).unwrap(), json!({"ok": true}));
        assert_eq!(header(&request, "X-GitHub-Event"), Some("push"));
        let mut broken = request.clone();
        broken.body = "%%%".to_owned();
        assert!(body(&broken).is_err());
        assert_eq!(text(200, "hi").body, "aGk=");
    }
}
