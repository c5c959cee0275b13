//! Plugins as processes: the manifest on disk, the confined process, the JSON-RPC connection,
//! and the supervisor that keeps instances warm.
//!
//! Owns: reading `plugin.toml` from a package folder, spawning and confining plugin processes
//! (`process.rs`), the host's end of the protocol (`rpc.rs`), instance life and restarts
//! (`supervisor.rs`). Must not touch: SQL (host services reach the store through `queue/` and
//! `store/` interfaces), HTTP. Plugin output never panics the host: every byte a plugin writes
//! is treated as untrusted input.
//!
//! `host.rs` ties them to the rest: the plugins of this node, the host services they call (job
//! logs and progress, kv, emit), and the `plugin.run` job kind.
//!
//! Known limits: the metadata cache in the store, installation from packages and Landlock rules
//! are not here yet; plugins are loaded from folders named at start (`--plugin DIR`).

pub mod host;
pub mod process;
pub mod rpc;
pub mod supervisor;

#[cfg(test)]
mod tests;

use std::path::Path;

use plugboard_protocol::Manifest;

/// A manifest that could not be read, with the file it came from.
#[derive(Debug, thiserror::Error)]
pub enum ManifestReadError {
    #[error("cannot read {path}: {reason}; a plugin package needs a plugin.toml at its root")]
    Read { path: String, reason: String },
    #[error("invalid {path}, {error}")]
    Invalid {
        path: String,
        error: plugboard_protocol::ManifestError,
    },
}

/// Reads and checks `plugin.toml` in `package_dir`.
pub fn read_manifest(package_dir: &Path) -> Result<Manifest, ManifestReadError> {
    let path = package_dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path).map_err(|error| ManifestReadError::Read {
        path: path.display().to_string(),
        reason: error.to_string(),
    })?;
    Manifest::parse(&text).map_err(|error| ManifestReadError::Invalid {
        path: path.display().to_string(),
        error,
    })
}
