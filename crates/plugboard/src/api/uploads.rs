//! Plugin packages sent as the request body of `POST /api/v1/plugins` and
//! `POST /api/v1/plugins/{id}/update`: streamed to a file in the uploads folder the caller of
//! [`super::router`] names, hashed on the way, and held to the package size cap while streaming.
//!
//! The raw body, not multipart: one archive per request needs no envelope, `curl --data-binary
//! @hello.tar.gz` sends it as it is, the server streams it to disk without a parser in between,
//! and `Content-Length` lets an oversized package be refused before a byte is read.
//!
//! Owns: receiving the bytes. Must not touch: the installer (the request keeps the package in
//! the store for the job it enqueues, on whichever node that job runs, and removes its file).

use std::path::PathBuf;
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderMap;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::problem::ApiError;

/// Where uploads go and how large they may be.
#[derive(Debug, Clone)]
pub struct UploadParams {
    /// A folder inside the data directory (`plugins/.staging/uploads/`); created when needed.
    pub dir: PathBuf,
    /// The package size cap (`package_max_mb`), in bytes.
    pub max_bytes: u64,
}

/// The media types an uploaded package may be sent as.
pub const ARCHIVE_TYPES: &[&str] = &[
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/zip",
    "application/octet-stream",
];

/// What a request body holds, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    Json,
    Archive,
}

impl BodyKind {
    /// # Errors
    /// 415 for any other media type, naming those accepted.
    pub(super) fn of(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            Ok(BodyKind::Json)
        } else if ARCHIVE_TYPES.contains(&essence.as_str()) {
            Ok(BodyKind::Archive)
        } else {
            Err(ApiError::UnsupportedMediaType(format!(
                "send JSON (`Content-Type: application/json`) with a `source`, or the package archive itself as the body with `Content-Type` one of {}; `{content_type}` is neither",
                ARCHIVE_TYPES.join(", ")
            )))
        }
    }
}

/// An uploaded archive on disk while the request is handled, removed when dropped (the store
/// keeps it for its job).
#[derive(Debug)]
pub(super) struct Upload {
    pub path: PathBuf,
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The most a refused body is read on after the answer, and for how long.
const DRAIN_LIMIT_BYTES: u64 = 1024 * 1024 * 1024;
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Reads the rest of a refused body and drops it, after the answer has gone. A client that is
/// still sending when the server answers and closes would otherwise have its connection reset
/// under it and never read the 413; reading on lets the answer arrive. Bounded in bytes and
/// time, and uploads are for the admin token only.
fn drain_in_background(mut stream: BodyDataStream) {
    tokio::spawn(async move {
        let mut drained = 0u64;
        let _ = tokio::time::timeout(DRAIN_LIMIT, async {
            while let Some(Ok(chunk)) = stream.next().await {
                drained += chunk.len() as u64;
                if drained > DRAIN_LIMIT_BYTES {
                    break;
                }
            }
        })
        .await;
    });
}

fn too_large(size: u64, limit: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the package is {size} bytes or more, over this server's package limit of {limit} bytes; send a smaller package, or raise package_max_mb on the server"
    ))
}

/// Streams `body` into a new file in the uploads folder. A body that announces or reaches more
/// than the cap is refused with 413 and leaves nothing behind; so does a body cut short.
pub(super) async fn receive(
    params: &UploadParams,
    headers: &HeaderMap,
    body: Body,
) -> Result<Upload, ApiError> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = announced {
        if length > params.max_bytes {
            drain_in_background(body.into_data_stream());
            return Err(too_large(length, params.max_bytes));
        }
    }
    tokio::fs::create_dir_all(&params.dir)
        .await
        .map_err(|error| {
            ApiError::Internal(format!(
                "cannot create the uploads folder {}: {error}",
                params.dir.display()
            ))
        })?;
    let name = super::auth::mint_secret("upload-");
    // The name's 64 random hex digits make it unguessable and unique; keep 32 of them.
    let path = params.dir.join(&name[..7 + 32]);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .await
        .map_err(|error| {
            ApiError::Internal(format!("cannot create {}: {error}", path.display()))
        })?;
    let mut upload = Upload {
        path,
        bytes: 0,
        sha256: String::new(),
    };
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::BadRequest(format!(
                "the upload was cut short after {} bytes: {error}; send it again",
                upload.bytes
            ))
        })?;
        upload.bytes += chunk.len() as u64;
        if upload.bytes > params.max_bytes {
            drain_in_background(stream);
            return Err(too_large(upload.bytes, params.max_bytes));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(|error| {
            ApiError::Internal(format!("cannot write {}: {error}", upload.path.display()))
        })?;
    }
    if upload.bytes == 0 {
        // Well-formed, and not a package: refused as an archive that is not one is.
        return Err(ApiError::invalid_field(
            "",
            "the body is empty; send the package archive as the body (curl --data-binary @FILE)",
        ));
    }
    file.flush()
        .await
        .and(file.sync_all().await)
        .map_err(|error| {
            ApiError::Internal(format!("cannot write {}: {error}", upload.path.display()))
        })?;
    upload.sha256 = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(upload)
}
