//! Getting an archive into a staging file: an http(s) download or a copy of a local file, each
//! hashed while it is written and held to the size cap.
//!
//! A download is refused before its body when `Content-Length` is over the cap, and stopped while
//! streaming the moment it passes the cap (a server may lie or send no length). It also ends at
//! the overall time limit, after `stall_timeout` without a byte, or when cancelled.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{hex, PackageError, PackageLimits};

/// How far a download is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadProgress {
    pub received: u64,
    /// From `Content-Length`, when the server sent one.
    pub total: Option<u64>,
}

/// An archive in a staging file.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// Downloads `url` (http or https) into `destination`.
///
/// # Errors
/// [`PackageError::TooLarge`] (announced or streamed past the cap), [`PackageError::TimedOut`],
/// [`PackageError::Stalled`], [`PackageError::Download`] for every
/// other failure (refused connection, an HTTP error status, a body cut short).
pub async fn download(
    url: &str,
    destination: &Path,
    limits: &PackageLimits,
    progress: &watch::Sender<DownloadProgress>,
) -> Result<Fetched, PackageError> {
    let failed = |reason: String| PackageError::Download {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|error| failed(error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(failed(format!(
            "the scheme `{}` is not supported; use http or https",
            parsed.scheme()
        )));
    }
    let deadline = Instant::now() + limits.download_timeout;
    let client = reqwest::Client::builder()
        .connect_timeout(limits.stall_timeout)
        .build()
        .map_err(|error| failed(error.to_string()))?;
    let timed_out = || PackageError::TimedOut {
        url: url.to_owned(),
        limit: limits.download_timeout,
    };
    let stalled = |received| PackageError::Stalled {
        url: url.to_owned(),
        received,
        limit: limits.stall_timeout,
    };
    let response = tokio::select! {
        response = tokio::time::timeout(limits.stall_timeout, client.get(parsed).send()) => match response {
            Ok(response) => response.map_err(|error| failed(describe(&error)))?,
            Err(_) => return Err(stalled(0)),
        },
        () = tokio::time::sleep_until(deadline) => return Err(timed_out()),
    };
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("the server answered {status}")));
    }
    let total = response.content_length();
    if let Some(total) = total {
        if total > limits.max_archive_bytes {
            return Err(PackageError::TooLarge {
                source_name: url.to_owned(),
                size: total,
                limit: limits.max_archive_bytes,
            });
        }
    }
    let mut file = tokio::fs::File::create(destination)
        .await
        .map_err(PackageError::io("cannot create", destination))?;
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    progress.send_replace(DownloadProgress { received, total });
    let mut body = response.bytes_stream();
    loop {
        let chunk = tokio::select! {
            chunk = tokio::time::timeout(limits.stall_timeout, body.next()) => match chunk {
                Ok(chunk) => chunk,
                Err(_) => return Err(stalled(received)),
            },
            () = tokio::time::sleep_until(deadline) => return Err(timed_out()),
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(|error| failed(describe(&error)))?;
        received += chunk.len() as u64;
        if received > limits.max_archive_bytes {
            return Err(PackageError::TooLarge {
                source_name: url.to_owned(),
                size: received,
                limit: limits.max_archive_bytes,
            });
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(PackageError::io("cannot write", destination))?;
        progress.send_replace(DownloadProgress { received, total });
    }
    if let Some(total) = total {
        if received != total {
            return Err(failed(format!(
                "the body ended after {received} of {total} bytes"
            )));
        }
    }
    file.flush()
        .await
        .map_err(PackageError::io("cannot write", destination))?;
    file.sync_all()
        .await
        .map_err(PackageError::io("cannot write", destination))?;
    Ok(Fetched {
        path: destination.to_path_buf(),
        bytes: received,
        sha256: hex(&hasher.finalize()),
    })
}

/// reqwest's message with its causes, which say what actually went wrong (connection refused,
/// body ended early).
fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}

/// Copies a local archive into `destination`, held to the same size cap as a download.
///
/// # Errors
/// [`PackageError::Source`] when the file cannot be read, [`PackageError::TooLarge`].
pub async fn copy_local(
    source: &Path,
    destination: &Path,
    limits: &PackageLimits,
) -> Result<Fetched, PackageError> {
    let source_name = source.display().to_string();
    let unreadable = |error: std::io::Error| PackageError::Source {
        source_name: source_name.clone(),
        reason: error.to_string(),
    };
    let size = tokio::fs::metadata(source).await.map_err(unreadable)?.len();
    if size > limits.max_archive_bytes {
        return Err(PackageError::TooLarge {
            source_name: source_name.clone(),
            size,
            limit: limits.max_archive_bytes,
        });
    }
    tokio::fs::copy(source, destination)
        .await
        .map_err(unreadable)?;
    let copied = tokio::fs::metadata(destination)
        .await
        .map_err(PackageError::io("cannot read", destination))?
        .len();
    if copied > limits.max_archive_bytes {
        return Err(PackageError::TooLarge {
            source_name,
            size: copied,
            limit: limits.max_archive_bytes,
        });
    }
    let path = destination.to_path_buf();
    let sha256 = tokio::task::spawn_blocking(move || super::sha256_file(&path))
        .await
        .map_err(|error| PackageError::Io {
            what: "cannot hash",
            path: destination.display().to_string(),
            reason: error.to_string(),
        })??;
    Ok(Fetched {
        path: destination.to_path_buf(),
        bytes: copied,
        sha256,
    })
}
