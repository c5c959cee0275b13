//! The header checks of protocol 2026-07-28: the headers mirror the body (`MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, and the `Mcp-Param-*` of arguments a tool marks with
//! `x-mcp-header`), values in the `=?base64?…?=` form decoded, and the `_meta` every request
//! carries.

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use super::jsonrpc::{self, Failure, Request as RpcRequest};
use super::{LEGACY_VERSIONS, MODERN_VERSION};

/// The `_meta` key of the protocol version (2026-07-28).
pub(super) const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The checks of the 2026-07-28 era: the headers mirror the body, the version is spoken here.
pub(super) fn check_modern(headers: &HeaderMap, request: &RpcRequest) -> Result<(), Failure> {
    let mismatch =
        |message: String| Failure::new(StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, message);
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map(str::to_owned)
                    .map_err(|_| mismatch(format!("the {name} header is not visible ASCII")))
            })
            .transpose()
    };
    let header_version = header("mcp-protocol-version")?
        .ok_or_else(|| mismatch("the MCP-Protocol-Version header is required".to_owned()))?;
    let meta_version = request
        .meta()
        .and_then(|meta| meta.get(META_VERSION))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                jsonrpc::INVALID_PARAMS,
                format!("params._meta[\"{META_VERSION}\"] is required"),
            )
        })?;
    let capabilities = request
        .meta()
        .and_then(|meta| meta.get("io.modelcontextprotocol/clientCapabilities"));
    if !capabilities.is_some_and(Value::is_object) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_PARAMS,
            "params._meta[\"io.modelcontextprotocol/clientCapabilities\"] (an object) is required",
        ));
    }
    if header_version != meta_version {
        return Err(mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{header_version}' does not match body value '{meta_version}'"
        )));
    }
    if header_version != MODERN_VERSION {
        let mut supported = vec![MODERN_VERSION];
        supported.extend(LEGACY_VERSIONS);
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
        )
        .with_data(json!({"supported": supported, "requested": header_version})));
    }
    let method = header("mcp-method")?
        .ok_or_else(|| mismatch("the Mcp-Method header is required".to_owned()))?;
    if method != request.method {
        return Err(mismatch(format!(
            "Header mismatch: Mcp-Method header value '{method}' does not match body value '{}'",
            request.method
        )));
    }
    let named = match request.method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    };
    if let Some(field) = named {
        let body = request.params.get(field).and_then(Value::as_str);
        let name = header("mcp-name")?
            .ok_or_else(|| mismatch("the Mcp-Name header is required".to_owned()))?;
        let name = decode_header_value(&name)
            .ok_or_else(|| mismatch("the Mcp-Name header's base64 does not decode".to_owned()))?;
        if Some(name.as_str()) != body {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Name header value '{name}' does not match body value '{}'",
                body.unwrap_or("")
            )));
        }
    }
    Ok(())
}

/// A header value, decoded when it is in the `=?base64?…?=` form.
fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_owned()),
    }
}

/// The `Mcp-Param-*` headers of a modern call must carry each mirrored argument, as in the
/// body.
pub(super) fn check_mirrored(
    headers: &HeaderMap,
    mirrored: &[(String, Vec<String>)],
    arguments: &Value,
) -> Result<(), Failure> {
    for (name, path) in mirrored {
        let value = path.iter().try_fold(arguments, |value, key| value.get(key));
        let expected = match value {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) => text.clone(),
            Some(Value::Bool(flag)) => flag.to_string(),
            Some(Value::Number(number)) => number.to_string(),
            Some(_) => continue,
        };
        let header = format!("mcp-param-{}", name.to_ascii_lowercase());
        let given = headers
            .get(&header)
            .and_then(|value| value.to_str().ok())
            .and_then(decode_header_value);
        let matches = match (&given, value) {
            (Some(given), Some(Value::Number(number))) => {
                given == &expected || given.parse::<f64>().ok() == number.as_f64()
            }
            (Some(given), _) => given == &expected,
            (None, _) => false,
        };
        if !matches {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                jsonrpc::HEADER_MISMATCH,
                format!(
                    "Header mismatch: Mcp-Param-{name} must carry argument /{} ('{expected}')",
                    path.join("/")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn header_values_decode_from_base64() {
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("=?base64?***?="), None);
    }

    #[test]
    fn mirrored_arguments_must_match_their_headers() {
        let mirrored = vec![("Region".to_owned(), vec!["region".to_owned()])];
        let arguments = json!({"region": "us-west1"});
        assert!(check_mirrored(
            &headers(&[("mcp-param-region", "us-west1")]),
            &mirrored,
            &arguments
        )
        .is_ok());
        assert!(check_mirrored(&headers(&[]), &mirrored, &arguments).is_err());
        assert!(check_mirrored(&headers(&[]), &mirrored, &json!({})).is_ok());
    }
}
