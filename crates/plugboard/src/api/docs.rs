//! `/api/v1/docs`: a reference page of the API rendered by Redoc from `/api/v1/openapi.json`.
//! Redoc's script is compiled into the binary (`assets/`), and the page loads nothing from
//! elsewhere, so it renders in a browser with no internet access.

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
<redoc spec-url="/api/v1/openapi.json" hide-download-button="false"></redoc>
<script src="/api/v1/docs/assets/redoc.standalone.js"></script>
</body>
</html>
"#;

pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
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
