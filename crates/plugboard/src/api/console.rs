//! The admin console at `/`: the single-page app built from `web/` into
//! `crates/plugboard/console/` and compiled into the binary, so `cargo build` needs no Node and
//! a running server fetches nothing from anywhere (docs/console.md).
//!
//! Files under `assets/` have a hash in their names and are cached for a year; everything else
//! (`index.html`, `plugin-page.js`) is revalidated with an `ETag`. The build writes `.br` and
//! `.gz` beside each large file, and the server answers the best one the client accepts. The
//! page runs under a Content-Security-Policy that allows scripts, styles, fetches and frames
//! from this server only.
//!
//! Owns: serving the bundle and its headers. Must not touch: what the console does (that is
//! the API it calls).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use std::borrow::Cow;
use std::path::Path;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

use super::problem::{ApiError, PathParams};
use super::AppState;

static BUNDLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/console");

/// The console's policy: its own scripts, styles, fetches and frames (plugin pages, which load
/// from `/plugins/…` on an opaque origin), nothing inline, nothing from elsewhere.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// `GET /`: the console's page.
pub(super) async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve_file(state.console_dir.as_deref(), "index.html", &headers).await
}

/// `GET /assets/{*file}`.
pub(super) async fn asset(
    State(state): State<AppState>,
    PathParams(file): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    serve_file(
        state.console_dir.as_deref(),
        &format!("assets/{file}"),
        &headers,
    )
    .await
}

/// `GET /{file}`: the other files at the bundle's root (`plugin-page.js`, the icon).
pub(super) async fn root_file(
    State(state): State<AppState>,
    PathParams(file): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    serve_file(state.console_dir.as_deref(), &file, &headers).await
}

/// A file of the console: from the compiled bundle, or from `console_dir` when set (read at
/// each request, so a rebuilt console shows at the next reload).
async fn read(dir: Option<&Path>, path: &str) -> Option<Cow<'static, [u8]>> {
    if path
        .split('/')
        .any(|segment| segment.is_empty() || segment.starts_with('.') || segment.contains('\\'))
    {
        return None;
    }
    match dir {
        None => BUNDLE
            .get_file(path)
            .map(|file| Cow::Borrowed(file.contents())),
        Some(dir) => tokio::fs::read(dir.join(path)).await.ok().map(Cow::Owned),
    }
}

async fn serve_file(dir: Option<&Path>, path: &str, request: &HeaderMap) -> Response {
    let Some(contents) = read(dir, path).await else {
        return ApiError::NotFound(format!(
            "there is nothing at /{path}; the console is at /, the API at /api/v1"
        ))
        .into_response();
    };
    let etag = match dir {
        None => etag(path, &contents),
        Some(_) => digest_tag(&contents),
    };
    if request
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    let mut body = contents;
    let mut encoding = None;
    for accepted in accepted_encodings(request) {
        let suffix = if accepted == "br" { "br" } else { "gz" };
        if let Some(compressed) = read(dir, &format!("{path}.{suffix}")).await {
            body = compressed;
            encoding = Some(accepted);
            break;
        }
    }
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        axum::http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    if let Some(encoding) = encoding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if path == "index.html" {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        );
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
    }
    response
}

/// The encodings the client takes (`q=0` excluded), brotli first.
fn accepted_encodings(headers: &HeaderMap) -> Vec<&'static str> {
    let mut accepted = Vec::new();
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match name.as_str() {
                "br" => accepted.push("br"),
                "gzip" => accepted.push("gzip"),
                _ => {}
            }
        }
    }
    accepted.sort_unstable_by_key(|encoding| *encoding != "br");
    accepted.dedup();
    accepted
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A strong validator: the first 16 bytes of the file's sha256, worked out once per file.
fn etag(path: &str, contents: &[u8]) -> String {
    static TAGS: OnceLock<std::sync::Mutex<HashMap<String, String>>> = OnceLock::new();
    let tags = TAGS.get_or_init(Default::default);
    let mut tags = tags.lock().unwrap_or_else(|poison| poison.into_inner());
    tags.entry(path.to_owned())
        .or_insert_with(|| digest_tag(contents))
        .clone()
}

fn digest_tag(contents: &[u8]) -> String {
    let digest = Sha256::digest(contents);
    let hex: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_respect_q_zero() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip, br;q=0"));
        assert_eq!(accepted_encodings(&headers), vec!["gzip"]);
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert_eq!(accepted_encodings(&headers), vec!["br", "gzip"]);
    }

    #[tokio::test]
    async fn paths_cannot_leave_the_bundle_or_the_folder() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir(folder.path().join("console")).unwrap();
        std::fs::write(folder.path().join("secret"), "no").unwrap();
        std::fs::write(folder.path().join("console/index.html"), "yes").unwrap();
        let dir = folder.path().join("console");
        for source in [None, Some(dir.as_path())] {
            for path in [
                "../secret",
                "assets/../../secret",
                "",
                ".hidden",
                "a//b",
                "..\\secret",
            ] {
                assert!(read(source, path).await.is_none(), "{path}");
            }
            assert!(read(source, "index.html").await.is_some());
        }
    }
}
