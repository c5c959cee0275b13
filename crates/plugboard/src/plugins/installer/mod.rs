//! The admin's actions on installed plugins, as job kinds: `plugin.install`, `plugin.update`,
//! `plugin.rollback`, `plugin.uninstall`, `plugin.enable`, `plugin.disable` and
//! `plugin.refresh-metadata`, and the reconcile that brings the host in line with the registry
//! at start.
//!
//! Owns: the registry's rows (through the `Store` trait), the folders `plugins/<id>/<version>/`
//! and `plugins/.staging/` in the data directory, the order of every step (fetch, verify,
//! unpack, check, keep the archive in the store, place, start once, switch, drain the old
//! version) and what is undone when a step fails. Must not touch: SQL, HTTP routes, the
//! processes themselves (the host starts, switches and stops them).
//!
//! Crash safety: the registry row is the desired state and is written before the host is
//! switched; a version folder appears by one `rename`. A crash before the row names the new
//! version leaves the old one (or nothing) installed, and reconcile removes the leftovers; a crash
//! after it leaves the new one, which reconcile starts. The job itself is retried once its lease
//! expires, and a retry recognises work its earlier attempt finished.
//!
//! One admin job per plugin at a time: each action takes the plugin's lock in the store first,
//! and a second action waits (its log says for which job) until the first has finished.
//!
//! Permissions need the admin's consent (`consent.rs`): before a version is kept or placed, its
//! `[permissions]` are refused outright (host secrets, the data directory, `/`), found within the
//! plugin's grant, granted by the job's `grant_permissions`, or the job stops awaiting approval.
//! Who may put `grant_permissions` in a job (the admin token) is the API's business.
//!
//! Development plugins (`serve --plugin DIR`) are not in the registry: they cannot be updated,
//! disabled or uninstalled here, and an install of their id is refused while they are loaded.

mod actions;
mod consent;
mod reconcile;
mod steps;
mod uploads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::manifest::Permissions;
use serde::Deserialize;
use serde_json::Value;

use super::host::PluginHost;
use super::package::{PackageError, PackageLimits};
use crate::queue::{JobContext, JobError, JobHandler, Registry};
use crate::store::{NewJob, Store, StoreError};

pub use consent::{describe_json as describe_permissions, AWAITING_APPROVAL};
pub use reconcile::ReconcileReport;
pub use uploads::uploads_dir;

/// `plugin.install`: `{"source": URL or absolute path, "sha256"?: HEX, "grant_permissions"?:
/// {"network", "read", "write", "env"}}`.
pub const PLUGIN_INSTALL: &str = "plugin.install";
/// `plugin.update`: `{"plugin": ID, "source"?: URL or path, "version"?: kept version,
/// "sha256"?, "allow_downgrade"?: bool, "grant_permissions"?}`; one of `source` and `version`.
pub const PLUGIN_UPDATE: &str = "plugin.update";
/// `plugin.rollback`: `{"plugin": ID}`, back to the previous version.
pub const PLUGIN_ROLLBACK: &str = "plugin.rollback";
/// `plugin.uninstall`: `{"plugin": ID, "delete_data"?: bool}`.
pub const PLUGIN_UNINSTALL: &str = "plugin.uninstall";
/// `plugin.enable`: `{"plugin": ID}`.
pub const PLUGIN_ENABLE: &str = "plugin.enable";
/// `plugin.disable`: `{"plugin": ID}`.
pub const PLUGIN_DISABLE: &str = "plugin.disable";
/// `plugin.refresh-metadata`: `{"plugin": ID}`, starts the active version once and caches what it
/// declares.
pub const PLUGIN_REFRESH_METADATA: &str = "plugin.refresh-metadata";

/// An admin job may run this long unless it says otherwise: a download, a start and a drain.
const ADMIN_JOB_TIMEOUT_MS: i64 = 15 * 60 * 1000;

/// How the installer works.
#[derive(Debug, Clone)]
pub struct InstallerConfig {
    /// `plugins/` in the data directory: `<id>/<version>/` and `.staging/`.
    pub plugins_dir: PathBuf,
    pub limits: PackageLimits,
    /// How long runs in flight on a replaced, disabled or uninstalled version may take to finish
    /// before its processes are stopped. Default 30 s.
    pub drain_grace: Duration,
    /// How many versions of a plugin the store keeps (the active and previous ones always among
    /// them); older ones are forgotten after an update or rollback. At least 2; default 5.
    pub keep_versions: usize,
}

/// Why an admin action failed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("plugin {plugin} {installed} is installed; use update to go to {offered}")]
    AlreadyInstalled {
        plugin: String,
        installed: String,
        offered: String,
    },
    #[error("plugin {plugin} {version} is already installed; nothing to do (uninstall it first to install it again)")]
    SameInstalled { plugin: String, version: String },
    #[error("plugin {plugin} is not installed; `plugboard plugin list` shows what is, and `plugboard plugin install SOURCE` installs it")]
    NotInstalled { plugin: String },
    #[error("plugin {plugin} is being installed by job {job}; wait for it to finish")]
    Installing { plugin: String, job: String },
    #[error("plugin {plugin} is a development plugin loaded from {path} with --plugin; restart serve without that --plugin to manage {plugin} with install, update and uninstall")]
    Development { plugin: String, path: String },
    #[error("plugin {plugin} {active} is active and {offered} is older; pass --allow-downgrade (\"allow_downgrade\": true) to go back, or use rollback")]
    Downgrade {
        plugin: String,
        active: String,
        offered: String,
    },
    #[error("plugin {plugin} {version} is already active; nothing to update")]
    SameVersion { plugin: String, version: String },
    #[error("the package is plugin {found}, not {expected}; install it with install, or give the package of {expected}")]
    WrongPlugin { expected: String, found: String },
    #[error("plugin {plugin} has no previous version to roll back to")]
    NoPrevious { plugin: String },
    #[error(
        "plugin {plugin} has no version {version} kept (kept: {kept}); give a source to fetch it"
    )]
    UnknownVersion {
        plugin: String,
        version: String,
        kept: String,
    },
    #[error("plugin {plugin} failed: {reason}; disable it, then enable it to try again, or update or roll it back to a version that works")]
    PluginFailed { plugin: String, reason: String },
    #[error("plugin {plugin} {version} did not start: {reason}; {outcome}")]
    StartFailed {
        plugin: String,
        version: String,
        reason: String,
        /// What was left running (`1.0.0 keeps running`, `nothing was installed`).
        outcome: String,
    },
    #[error("refused plugin {plugin} {version}: it asks for permissions no plugin may have: {reasons}; nothing was changed; remove them from its plugin.toml")]
    PermissionsRefused {
        plugin: String,
        version: String,
        reasons: String,
    },
    #[error("the permissions granted ({granted}) are not what plugin {plugin} {version} asks for ({asked}); nothing was changed; grant exactly what it asks for")]
    GrantMismatch {
        plugin: String,
        version: String,
        asked: String,
        granted: String,
    },
    /// The version asks for permissions the plugin was not granted; the message says which and
    /// how the admin approves them.
    #[error("{message}")]
    AwaitingApproval { message: String },
    #[error("cancelled {while_doing}; nothing was changed")]
    Cancelled { while_doing: String },
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: String,
        reason: String,
    },
}

impl InstallError {
    fn io(what: &'static str, path: &std::path::Path) -> impl Fn(std::io::Error) -> InstallError {
        let path = path.display().to_string();
        move |error| InstallError::Io {
            what,
            path: path.clone(),
            reason: error.to_string(),
        }
    }

    /// A store that could not be reached may answer the next attempt; everything else is the
    /// same next time.
    fn into_job_error(self) -> JobError {
        match self {
            InstallError::Store(_) => JobError::retryable(self.to_string()),
            other => JobError::permanent(other.to_string()),
        }
    }
}

/// The admin actions of one node: its store, its host and its `plugins/` folder.
pub struct Installer {
    store: Arc<dyn Store>,
    host: Arc<PluginHost>,
    config: InstallerConfig,
    /// Per plugin, held by an admin action running on this node and by [`Installer::converge`]
    /// while it changes that plugin here, so the two never act on one plugin at once.
    local: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Installer {
    pub fn new(store: Arc<dyn Store>, host: Arc<PluginHost>, config: InstallerConfig) -> Installer {
        Installer {
            store,
            host,
            config,
            local: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

/// Registers every admin kind. Without an installer (a process that only enqueues) the kinds
/// check payloads but cannot run.
pub fn register(registry: &mut Registry, installer: Option<Arc<Installer>>) {
    for action in [
        Action::Install,
        Action::Update,
        Action::Rollback,
        Action::Uninstall,
        Action::Enable,
        Action::Disable,
        Action::RefreshMetadata,
    ] {
        registry.register(
            action.kind(),
            AdminJob {
                action,
                installer: installer.clone(),
            },
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Install,
    Update,
    Rollback,
    Uninstall,
    Enable,
    Disable,
    RefreshMetadata,
}

impl Action {
    fn kind(self) -> &'static str {
        match self {
            Action::Install => PLUGIN_INSTALL,
            Action::Update => PLUGIN_UPDATE,
            Action::Rollback => PLUGIN_ROLLBACK,
            Action::Uninstall => PLUGIN_UNINSTALL,
            Action::Enable => PLUGIN_ENABLE,
            Action::Disable => PLUGIN_DISABLE,
            Action::RefreshMetadata => PLUGIN_REFRESH_METADATA,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallPayload {
    source: String,
    /// For an upload (`source` is the staged file): what the admin sent, as `plugin show`
    /// names the source.
    #[serde(default)]
    uploaded_as: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    /// The permissions the admin grants: only the admin token can enqueue a job that has it.
    #[serde(default)]
    grant_permissions: Option<Permissions>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePayload {
    plugin: String,
    #[serde(default)]
    source: Option<String>,
    /// As [`InstallPayload`]'s.
    #[serde(default)]
    uploaded_as: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    allow_downgrade: bool,
    #[serde(default)]
    grant_permissions: Option<Permissions>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginPayload {
    plugin: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UninstallPayload {
    plugin: String,
    #[serde(default)]
    delete_data: bool,
}

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Url(String),
    /// An absolute path: a folder or an archive on this node.
    Path(PathBuf),
    /// An archive the admin uploaded, staged at the path, and what they sent.
    Uploaded(PathBuf, String),
}

impl Source {
    fn parse(text: &str) -> Result<Source, String> {
        if text.starts_with("http://") || text.starts_with("https://") {
            reqwest::Url::parse(text).map_err(|error| format!("`{text}` is not a URL: {error}"))?;
            return Ok(Source::Url(text.to_owned()));
        }
        if text.contains("://") {
            return Err(format!(
                "`{text}` has a scheme plugboard does not fetch; use http, https or a path"
            ));
        }
        let path = PathBuf::from(text);
        if !path.is_absolute() {
            return Err(format!(
                "`{text}` is a relative path; give an absolute path (the server resolves nothing against its own folder)"
            ));
        }
        Ok(Source::Path(path))
    }

    /// A path that holds an upload, as the upload it is.
    fn uploaded_as(self, name: Option<&str>) -> Source {
        match (self, name) {
            (Source::Path(path), Some(name)) => Source::Uploaded(path, name.to_owned()),
            (source, _) => source,
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Url(url) => url.clone(),
            Source::Path(path) => path.display().to_string(),
            Source::Uploaded(_, name) => format!("upload of {name}"),
        }
    }
}

fn check_plugin_id(id: &str) -> Result<(), String> {
    if plugboard_protocol::manifest::is_valid_plugin_id(id) {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a plugin id; ids are 1 to 64 lower-case letters, digits, `-`, `_` or `.`, without `/` or `..`"
        ))
    }
}

fn parse_payload<T: for<'de> Deserialize<'de>>(payload: &Value, shape: &str) -> Result<T, String> {
    serde_json::from_value(payload.clone())
        .map_err(|error| format!("{error}; a payload of this kind is {shape}"))
}

/// The code behind one admin kind.
struct AdminJob {
    action: Action,
    installer: Option<Arc<Installer>>,
}

impl AdminJob {
    fn check(&self, payload: &Value) -> Result<(), String> {
        match self.action {
            Action::Install => {
                let install: InstallPayload = parse_payload(
                    payload,
                    "{\"source\": URL or absolute path, \"sha256\"?, \"grant_permissions\"?}",
                )?;
                Source::parse(&install.source)?;
                if let Some(sha256) = &install.sha256 {
                    super::package::parse_sha256(sha256)?;
                }
            }
            Action::Update => {
                let update: UpdatePayload = parse_payload(
                    payload,
                    "{\"plugin\": ID, \"source\"? or \"version\"?, \"sha256\"?, \"allow_downgrade\"?, \"grant_permissions\"?}",
                )?;
                check_plugin_id(&update.plugin)?;
                match (&update.source, &update.version) {
                    (Some(source), None) => {
                        Source::parse(source)?;
                    }
                    (None, Some(version)) => {
                        semver::Version::parse(version).map_err(|error| {
                            format!("`{version}` is not a semantic version ({error}); write for example 1.2.0")
                        })?;
                    }
                    _ => {
                        return Err(
                            "give either `source` (a URL or path to fetch) or `version` (a version kept in the store)".to_owned(),
                        )
                    }
                }
                if let Some(sha256) = &update.sha256 {
                    super::package::parse_sha256(sha256)?;
                }
            }
            Action::Uninstall => {
                let uninstall: UninstallPayload =
                    parse_payload(payload, "{\"plugin\": ID, \"delete_data\"?: bool}")?;
                check_plugin_id(&uninstall.plugin)?;
            }
            Action::Rollback | Action::Enable | Action::Disable | Action::RefreshMetadata => {
                let plugin: PluginPayload = parse_payload(payload, "{\"plugin\": ID}")?;
                check_plugin_id(&plugin.plugin)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl JobHandler for AdminJob {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        self.check(payload)
    }

    fn prepare(&self, job: &mut NewJob) {
        if let Some(plugin) = job.payload.get("plugin").and_then(Value::as_str) {
            job.plugin.get_or_insert(plugin.to_owned());
        }
        job.timeout_ms.get_or_insert(ADMIN_JOB_TIMEOUT_MS);
    }

    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let installer = self.installer.as_ref().ok_or_else(|| {
            JobError::permanent(
                "this process does not manage plugins; run it with `plugboard serve`",
            )
        })?;
        let payload = context.job().payload.clone();
        self.check(&payload).map_err(JobError::permanent)?;
        let parse_error = |error: String| JobError::permanent(error);
        let mut upload = payload
            .get("source")
            .and_then(Value::as_str)
            .filter(|_| matches!(self.action, Action::Install | Action::Update))
            .and_then(|source| uploads::UploadedSource::of(source, &installer.config.plugins_dir));
        // Whatever happens below, the upload is released after (kept only for a retry).
        let answer = async {
            let mut payload = payload;
            if let Some(upload) = upload.as_mut() {
                if let Err((message, retryable)) = upload.fetch(installer.store.as_ref()).await {
                    let job = context.job();
                    if retryable && job.attempt < job.max_attempts {
                        upload.keep();
                        return Err(JobError::retryable(message));
                    }
                    return Err(JobError::permanent(message));
                }
                payload["source"] = Value::String(upload.path().display().to_string());
            }
            let outcome = match self.action {
                Action::Install => {
                    let install: InstallPayload =
                        parse_payload(&payload, "").map_err(parse_error)?;
                    installer.install(&context, install).await
                }
                Action::Update => {
                    let update: UpdatePayload = parse_payload(&payload, "").map_err(parse_error)?;
                    installer.update(&context, update).await
                }
                Action::Uninstall => {
                    let uninstall: UninstallPayload =
                        parse_payload(&payload, "").map_err(parse_error)?;
                    installer.uninstall(&context, uninstall).await
                }
                Action::Rollback | Action::Enable | Action::Disable | Action::RefreshMetadata => {
                    let plugin: PluginPayload = parse_payload(&payload, "").map_err(parse_error)?;
                    match self.action {
                        Action::Rollback => installer.rollback(&context, &plugin.plugin).await,
                        Action::Enable => installer.enable(&context, &plugin.plugin).await,
                        Action::Disable => installer.disable(&context, &plugin.plugin).await,
                        _ => installer.refresh_metadata(&context, &plugin.plugin).await,
                    }
                }
            };
            match outcome {
                Ok(result) => Ok(Some(result)),
                Err(error) => {
                    // The worker writes the error into the job's log with its attempt.
                    let error = error.into_job_error();
                    let job = context.job();
                    if error.retryable && job.attempt < job.max_attempts {
                        if let Some(upload) = upload.as_mut() {
                            upload.keep();
                        }
                    }
                    Err(error)
                }
            }
        }
        .await;
        if let Some(upload) = upload {
            upload.release(installer.store.as_ref()).await;
        }
        answer
    }
}
