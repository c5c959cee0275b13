//! `/api/v1/docs`: a reference page of the API rendered by Redoc from `/api/v1/openapi.json`.
//! Redoc's script is compiled into the binary (`assets/`), and the page loads nothing from
//! elsewhere, so it renders in a browser with no internet access.
//!
//! The document holds what plugins declare about their routes (summaries, schemas), so the page
//! treats it as untrusted: Redoc's `untrusted-spec` sanitises its HTML, and a
//! Content-Security-Policy allows scripts, fetches and images from this server only.

use super::problem::PathParams;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};

use super::problem::ApiError;

const REDOC: &[u8] = include_bytes!("assets/redoc.standalone.js");
const REDOC_LICENSE: &str = include_str!("assets/redoc.LICENSE");

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plugboard API</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/api/v1/openapi.json" hide-download-button="false" untrusted-spec="true"></redoc>
<script src="/api/v1/docs/assets/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Scripts, styles, fetches and images from this server only (Redoc injects its styles, and
/// runs its search in a worker made from a blob).
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(super) async fn page() -> Response {
    (
        [(axum::http::header::CONTENT_SECURITY_POLICY, PAGE_CSP)],
        Html(PAGE),
    )
        .into_response()
}

pub(super) async fn asset(PathParams(file): PathParams<String>) -> Response {
    match file.as_str() {
        "redoc.standalone.js" => (
            [
                (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (CACHE_CONTROL, "public, max-age=86400"),
            ],
            REDOC,
        )
            .into_response(),
        "redoc.LICENSE" => {
            ([(CONTENT_TYPE, "text/plain; charset=utf-8")], REDOC_LICENSE).into_response()
        }
        other => ApiError::NotFound(format!(
            "there is no asset {other}; the reference page is /api/v1/docs"
        ))
        .into_response(),
    }
}
