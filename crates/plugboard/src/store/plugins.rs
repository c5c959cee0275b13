//! Types of the plugin registry: which plugins are installed, which version of each is active,
//! the package archives of every installed version, and the lock that keeps two admin actions on
//! one plugin from interleaving.

use serde::Serialize;

use super::{JobId, Timestamp};

/// What the registry wants of a plugin. The host converges on it (at start, and after each
/// admin job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// The first install is under way: nothing is active yet.
    Installing,
    /// The active version runs.
    Enabled,
    /// Installed, not running.
    Disabled,
    /// Meant to run but cannot; `error` says why.
    Failed,
}

impl PluginState {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Installing => "installing",
            PluginState::Enabled => "enabled",
            PluginState::Disabled => "disabled",
            PluginState::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Result<PluginState, String> {
        match text {
            "installing" => Ok(PluginState::Installing),
            "enabled" => Ok(PluginState::Enabled),
            "disabled" => Ok(PluginState::Disabled),
            "failed" => Ok(PluginState::Failed),
            other => Err(format!("unknown plugin state `{other}`")),
        }
    }
}

impl std::fmt::Display for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin in the registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstalledPlugin {
    pub id: String,
    /// `None` only while the first install is under way.
    pub active_version: Option<String>,
    /// What `rollback` returns to.
    pub previous_version: Option<String>,
    pub state: PluginState,
    pub error: Option<String>,
    /// Where the active version came from (a URL, a path, or `store` for a version already kept).
    pub source: Option<String>,
    /// The admin job that last changed the row.
    pub changed_by: Option<JobId>,
    /// The permissions the admin granted the plugin (`{"network", "read", "write", "env"}`, the
    /// `[permissions]` of a manifest), as JSON the store keeps and does not interpret. `None`
    /// for a plugin installed before grants were recorded: nothing is granted.
    pub granted_permissions: Option<serde_json::Value>,
    /// Set by the store on every write.
    pub updated_at: Timestamp,
}

/// One version of a plugin's package, with its archive, so any node can unpack it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageRecord {
    pub plugin: String,
    pub version: String,
    /// Of `archive`, lower-case hex.
    pub sha256: String,
    /// The `.tar.gz`, `.tar` or `.zip` as installed (a folder is packed as `.tar.gz`).
    pub archive: Vec<u8>,
    /// `plugin.toml` as written.
    pub manifest: String,
    pub source: Option<String>,
    /// Set by the store.
    pub created_at: Timestamp,
}

/// A kept package version without its archive, for lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageInfo {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub size: i64,
    pub source: Option<String>,
    pub created_at: Timestamp,
}

/// The answer to [`super::Store::plugin_lock_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    /// The job holds the plugin now (or already did).
    Acquired,
    /// Another job, still queued or running, holds it.
    Held { by: JobId },
}

/// What [`super::Store::plugin_remove`] deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRemoval {
    pub plugin: String,
    /// Also the plugin's key-value data (every tenant's) and its cached metadata.
    pub delete_data: bool,
}
