//! Plugins as processes: the manifest on disk, the confined process, the JSON-RPC connection,
//! and the supervisor that keeps instances warm.
//!
//! Owns: reading `plugin.toml` from a package folder, spawning and confining plugin processes
//! (`process.rs`; what they may reach is `sandbox.rs`, the Landlock system calls `landlock.rs`,
//! and what this machine enforces `protections.rs`), the host's end of the protocol
//! (`rpc.rs`), instance life and restarts (`supervisor.rs`). Must not touch: SQL (host services
//! reach the store through `queue/` and `store/` interfaces), HTTP. Plugin output never panics
//! the host: every byte a plugin writes is treated as untrusted input.
//!
//! `host.rs` ties them to the rest: the plugins of this node, the host services they call (job
//! logs and progress, kv, emit), and the `plugin.run` job kind; `tool.rs` the `plugin.tool` kind
//! (one call of a plugin's tool for an agent, through the same warm processes). `package/` fetches, verifies and
//! safely unpacks plugin packages; `installer/` runs the admin's actions (install, update,
//! rollback, uninstall, enable, disable, refresh-metadata) as job kinds and reconciles the
//! registry with the disk and the processes at start, and again every `plugin_sync_interval_ms`
//! so that an admin job another node ran reaches this one within seconds.
//!
//! Known limits: plugins named with `--plugin DIR` are development plugins, outside the
//! registry. A package must hold
//! everything it reads beyond its interpreter and the system (an SDK included), or declare it in
//! `permissions.read`.

pub mod cgroup;
pub mod check;
pub mod config_calls;
pub mod confinement;
pub mod host;
pub mod http_calls;
pub mod identity;
pub mod init;
pub mod installer;
pub mod landlock;
pub mod package;
pub mod privileges;
pub mod process;
pub mod protections;
pub mod rpc;
pub mod run;
pub mod sandbox;
pub mod services;
pub mod supervisor;
pub mod tool;

#[cfg(test)]
mod hostile_tests;
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

/// The sha256 of a package folder: every file's path and contents, in path order. Python's
/// `__pycache__` folders are left out (the interpreter writes them while the plugin runs).
pub fn package_checksum(package_dir: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut folders = vec![package_dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if entry.file_name() != "__pycache__" {
                    folders.push(entry.path());
                }
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let relative = file.strip_prefix(package_dir).unwrap_or(&file);
        let contents = std::fs::read(&file)?;
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
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
