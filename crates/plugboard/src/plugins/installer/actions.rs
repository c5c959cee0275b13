//! The steps of each admin action. Every step is a line in the job's log and the job's progress
//! names it (`downloading`, `verifying`, `unpacking`, `starting`, `switched`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::{InstallError, InstallPayload, Installer, Source, UninstallPayload, UpdatePayload};
use crate::plugins::host::{drain, Origin, Started};
use crate::plugins::package::{self, CheckedPackage, DownloadProgress, Fetched, PackageError};
use crate::queue::JobContext;
use crate::store::{
    InstalledPlugin, JobId, LockOutcome, LogLevel, MetadataState, NewLogLine, PackageRecord,
    PluginMetadataRecord, PluginRemoval, PluginState, Store, Timestamp,
};

/// A folder in `plugins/.staging/`, removed when dropped: whatever a failed action left there
/// goes with it.
struct Staging {
    path: PathBuf,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The version an update or rollback goes to.
enum Target {
    Fetch {
        source: Source,
        sha256: Option<String>,
    },
    Kept(String),
}

impl Installer {
    fn staging(&self, name: String) -> Result<Staging, InstallError> {
        let path = self.config.plugins_dir.join(".staging").join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(InstallError::io("cannot create", &path))?;
        Ok(Staging { path })
    }

    fn job_staging(&self, context: &JobContext) -> Result<Staging, InstallError> {
        let job = context.job();
        self.staging(format!("job-{}-{}", job.id, job.attempt))
    }

    pub(super) fn version_dir(&self, id: &str, version: &str) -> PathBuf {
        self.config.plugins_dir.join(id).join(version)
    }

    async fn step(&self, context: &JobContext, step: &str, message: String) {
        let _ = context.log(LogLevel::Info, message.clone()).await;
        let _ = context
            .progress(json!({"step": step, "message": message}))
            .await;
    }

    async fn note(&self, context: &JobContext, message: String) {
        let _ = context.log(LogLevel::Info, message).await;
    }

    /// Takes the plugin's admin lock, waiting while another live job holds it.
    async fn lock(&self, context: &JobContext, plugin: &str) -> Result<(), InstallError> {
        let job = context.job().id;
        let mut told_about = None;
        loop {
            match self.store.plugin_lock_acquire(plugin, job).await? {
                LockOutcome::Acquired => return Ok(()),
                LockOutcome::Held { by } => {
                    if told_about != Some(by) {
                        let kind = match self.store.job_get(by).await {
                            Ok(Some(holder)) => holder.kind,
                            _ => "admin".to_owned(),
                        };
                        self.step(
                            context,
                            "waiting",
                            format!("plugin {plugin} is busy with job {by} ({kind}); waiting for it to finish"),
                        )
                        .await;
                        told_about = Some(by);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        () = context.cancelled() => return Err(InstallError::Cancelled {
                            while_doing: format!("while waiting for job {by} to finish with plugin {plugin}"),
                        }),
                    }
                }
            }
        }
    }

    async fn unlock(&self, context: &JobContext, plugin: &str) {
        if let Err(error) = self
            .store
            .plugin_lock_release(plugin, context.job().id)
            .await
        {
            tracing::warn!(%error, plugin, "releasing a plugin's admin lock failed; it frees itself when the job ends");
        }
    }

    /// Runs `action` holding the plugin's lock.
    async fn locked<T>(
        &self,
        context: &JobContext,
        plugin: &str,
        action: impl std::future::Future<Output = Result<T, InstallError>>,
    ) -> Result<T, InstallError> {
        self.lock(context, plugin).await?;
        let outcome = action.await;
        self.unlock(context, plugin).await;
        outcome
    }

    /// Gets the archive of `source` into `staging`, then checks `expected_sha256`.
    async fn fetch(
        &self,
        context: &JobContext,
        source: &Source,
        expected_sha256: Option<&str>,
        staging: &Path,
    ) -> Result<Fetched, InstallError> {
        let archive = staging.join("archive");
        let limits = &self.config.limits;
        let fetched = match source {
            Source::Url(url) => {
                self.step(context, "downloading", format!("downloading {url}"))
                    .await;
                let (sender, receiver) = watch::channel(DownloadProgress::default());
                let reporter = tokio::spawn(report_download(
                    self.store.clone(),
                    context.job().id,
                    receiver,
                ));
                let outcome = tokio::select! {
                    outcome = package::download(url, &archive, limits, &sender) => outcome,
                    () = context.cancelled() => Err(PackageError::Cancelled { url: url.clone() }),
                };
                drop(sender);
                let _ = reporter.await;
                let fetched = outcome?;
                self.note(context, format!("downloaded {} bytes", fetched.bytes))
                    .await;
                fetched
            }
            Source::Path(path) => {
                let metadata =
                    tokio::fs::metadata(path)
                        .await
                        .map_err(|error| PackageError::Source {
                            source_name: path.display().to_string(),
                            reason: format!(
                            "{error}; give the path of a package folder or archive on the server"
                        ),
                        })?;
                if metadata.is_dir() {
                    if expected_sha256.is_some() {
                        return Err(PackageError::Source {
                            source_name: path.display().to_string(),
                            reason: "it is a folder, and a sha256 checks an archive; leave the sha256 out or give the archive".to_owned(),
                        }
                        .into());
                    }
                    self.step(
                        context,
                        "packing",
                        format!("packing the folder {}", path.display()),
                    )
                    .await;
                    let (folder, target) = (path.clone(), archive.clone());
                    blocking(move || package::pack_folder(&folder, &target)).await?;
                    let target = archive.clone();
                    let sha256 = blocking(move || package::sha256_file(&target)).await?;
                    let bytes = std::fs::metadata(&archive)
                        .map_err(InstallError::io("cannot read", &archive))?
                        .len();
                    if bytes > limits.max_archive_bytes {
                        return Err(PackageError::TooLarge {
                            source_name: path.display().to_string(),
                            size: bytes,
                            limit: limits.max_archive_bytes,
                        }
                        .into());
                    }
                    Fetched {
                        path: archive,
                        bytes,
                        sha256,
                    }
                } else {
                    self.step(context, "reading", format!("reading {}", path.display()))
                        .await;
                    package::copy_local(path, &archive, limits).await?
                }
            }
        };
        if let Some(expected) = expected_sha256 {
            self.step(context, "verifying", "verifying the sha256".to_owned())
                .await;
            let expected =
                package::parse_sha256(expected).map_err(|reason| PackageError::Source {
                    source_name: "the sha256".to_owned(),
                    reason,
                })?;
            if fetched.sha256 != expected {
                return Err(PackageError::ChecksumMismatch {
                    expected,
                    actual: fetched.sha256,
                }
                .into());
            }
            self.note(context, "sha256 matches".to_owned()).await;
        }
        Ok(fetched)
    }

    /// Unpacks a fetched archive in `staging` and checks the package.
    async fn unpack(
        &self,
        context: &JobContext,
        fetched: &Fetched,
        staging: &Path,
    ) -> Result<CheckedPackage, InstallError> {
        self.step(context, "unpacking", "unpacking".to_owned())
            .await;
        let (archive, out, limits) = (
            fetched.path.clone(),
            staging.join("unpacked"),
            self.config.limits.clone(),
        );
        let (unpacked, checked) = blocking(move || {
            let unpacked = package::unpack(&archive, &out, &limits)?;
            let checked = package::check(&out)?;
            Ok::<_, PackageError>((unpacked, checked))
        })
        .await?;
        self.note(
            context,
            format!(
                "unpacked {} entries, {} bytes; manifest checked: plugin {} {}",
                unpacked.files, unpacked.bytes, checked.manifest.id, checked.manifest.version
            ),
        )
        .await;
        Ok(checked)
    }

    /// Keeps the archive in the store, so every node can unpack this version.
    async fn keep(
        &self,
        context: &JobContext,
        checked: &CheckedPackage,
        fetched: &Fetched,
        source: &Source,
    ) -> Result<(), InstallError> {
        let archive = tokio::fs::read(&fetched.path)
            .await
            .map_err(InstallError::io("cannot read", &fetched.path))?;
        self.store
            .package_put(PackageRecord {
                plugin: checked.manifest.id.clone(),
                version: checked.manifest.version.clone(),
                sha256: fetched.sha256.clone(),
                archive,
                manifest: checked.manifest_text.clone(),
                source: Some(source.describe()),
                created_at: Timestamp::now(),
            })
            .await?;
        self.note(
            context,
            format!(
                "package kept in the store (sha256 {}, {} bytes)",
                fetched.sha256, fetched.bytes
            ),
        )
        .await;
        Ok(())
    }

    /// Moves a checked package to `plugins/<id>/<version>/` with one rename, replacing a folder
    /// of that version that nothing runs (one left by an interrupted attempt).
    fn place(&self, checked: &CheckedPackage) -> Result<PathBuf, InstallError> {
        let target = self.version_dir(&checked.manifest.id, &checked.manifest.version);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(InstallError::io("cannot create", parent))?;
        }
        if target.exists() {
            std::fs::remove_dir_all(&target)
                .map_err(InstallError::io("cannot replace", &target))?;
        }
        std::fs::rename(&checked.root, &target)
            .map_err(InstallError::io("cannot move the package to", &target))?;
        Ok(target)
    }

    /// The folder of a kept version, unpacked again from the store when it is not on disk (a new
    /// node, a cleaned disk).
    pub(super) async fn ensure_version_dir(
        &self,
        id: &str,
        version: &str,
    ) -> Result<PathBuf, InstallError> {
        let target = self.version_dir(id, version);
        if target.join("plugin.toml").is_file() {
            return Ok(target);
        }
        let Some(kept) = self.store.package_get(id, version).await? else {
            let kept: Vec<String> = self
                .store
                .package_list(id)
                .await?
                .into_iter()
                .map(|info| info.version)
                .collect();
            return Err(InstallError::UnknownVersion {
                plugin: id.to_owned(),
                version: version.to_owned(),
                kept: if kept.is_empty() {
                    "none".to_owned()
                } else {
                    kept.join(", ")
                },
            });
        };
        let staging = self.staging(format!(
            "restore-{id}-{version}-{:08x}",
            rand::random::<u32>()
        ))?;
        let archive = staging.path.join("archive");
        tokio::fs::write(&archive, &kept.archive)
            .await
            .map_err(InstallError::io("cannot write", &archive))?;
        let (out, limits) = (staging.path.join("unpacked"), self.config.limits.clone());
        let checked = blocking(move || {
            package::unpack(&archive, &out, &limits)?;
            package::check(&out)
        })
        .await?;
        if checked.manifest.id != id || checked.manifest.version != version {
            return Err(InstallError::WrongPlugin {
                expected: format!("{id} {version}"),
                found: format!("{} {}", checked.manifest.id, checked.manifest.version),
            });
        }
        tracing::info!(
            plugin = id,
            version,
            "unpacked a kept version from the store"
        );
        self.place(&checked)
    }

    /// The registry row of an installed plugin with an active version.
    async fn installed(&self, id: &str) -> Result<InstalledPlugin, InstallError> {
        if let Some(Origin::Development { path }) = self.host.origin(id) {
            return Err(InstallError::Development {
                plugin: id.to_owned(),
                path: path.display().to_string(),
            });
        }
        match self.store.plugin_get(id).await? {
            Some(row) if row.active_version.is_some() => Ok(row),
            _ => Err(InstallError::NotInstalled {
                plugin: id.to_owned(),
            }),
        }
    }

    /// Starts a version once and reports what it declared.
    async fn probe(
        &self,
        context: &JobContext,
        id: &str,
        version: &str,
        dir: &Path,
        outcome: &str,
    ) -> Result<Option<plugboard_protocol::Metadata>, InstallError> {
        self.step(
            context,
            "starting",
            format!("starting {id} {version} once to fetch its metadata"),
        )
        .await;
        let metadata = self
            .host
            .probe(dir)
            .await
            .map_err(|reason| InstallError::StartFailed {
                plugin: id.to_owned(),
                version: version.to_owned(),
                reason,
                outcome: outcome.to_owned(),
            })?;
        let summary = match &metadata {
            Some(metadata) => format!(
                "metadata fetched: {} events, {} routes, {} tools, {} UI pages",
                metadata.events.len(),
                metadata.routes.len(),
                metadata.tools.len(),
                metadata.ui.len()
            ),
            None => "metadata fetched".to_owned(),
        };
        self.step(context, "metadata", summary).await;
        Ok(metadata)
    }

    /// Starts a version beside whatever runs, every instance ready.
    async fn start(
        &self,
        context: &JobContext,
        id: &str,
        version: &str,
        dir: &Path,
        outcome: &str,
    ) -> Result<Started, InstallError> {
        self.step(context, "starting", format!("starting {id} {version}"))
            .await;
        self.host
            .start_version(dir)
            .await
            .map_err(|reason| InstallError::StartFailed {
                plugin: id.to_owned(),
                version: version.to_owned(),
                reason,
                outcome: outcome.to_owned(),
            })
    }

    /// Lets runs on a replaced or unloaded version finish within the grace period, then stops it.
    async fn retire(
        &self,
        context: &JobContext,
        label: &str,
        supervisor: Arc<crate::plugins::supervisor::Supervisor>,
    ) {
        let grace = self.config.drain_grace;
        let in_flight = supervisor.in_flight();
        if in_flight > 0 {
            self.note(
                context,
                format!(
                    "waiting up to {} s for {in_flight} requests in flight on {label} to finish",
                    grace.as_secs()
                ),
            )
            .await;
        }
        let left = drain(supervisor, grace).await;
        if left > 0 {
            let _ = context
                .log(
                    LogLevel::Warn,
                    format!("{left} requests on {label} did not finish within {} s; {label} was stopped and their jobs will be retried", grace.as_secs()),
                )
                .await;
        } else {
            self.note(context, format!("{label} stopped")).await;
        }
    }

    /// Puts a started version in place and retires what it replaced.
    async fn switch_in(&self, context: &JobContext, started: Started, replaced_label: &str) {
        let id = started.id().to_owned();
        if let Some(old) = self.host.switch(started) {
            self.retire(context, replaced_label, old).await;
        }
        self.watch_failures(&id);
    }

    /// Marks the plugin failed in the registry when every instance of what now runs fails.
    pub(super) fn watch_failures(&self, id: &str) {
        let Some(supervisor) = self.host.supervisor(id) else {
            return;
        };
        let Some(Origin::Installed { version }) = self.host.origin(id) else {
            return;
        };
        let store = self.store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let Some(mut state) = supervisor.watch_state(0) else {
                return;
            };
            loop {
                if supervisor.is_stopping() {
                    return;
                }
                if let Some(reason) = supervisor.failure() {
                    if let Ok(Some(mut row)) = store.plugin_get(&id).await {
                        if row.active_version.as_deref() == Some(version.as_str())
                            && row.state == PluginState::Enabled
                        {
                            row.state = PluginState::Failed;
                            row.error = Some(reason);
                            if let Err(error) = store.plugin_put(row).await {
                                tracing::warn!(%error, plugin = %id, "recording that the plugin failed did not work");
                            }
                        }
                    }
                    return;
                }
                if state.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Starts the active version of an enabled plugin when this node does not run it (a retry
    /// after a crash, a plugin that failed to load at start).
    async fn ensure_running(
        &self,
        context: &JobContext,
        row: &InstalledPlugin,
    ) -> Result<(), InstallError> {
        let Some(version) = &row.active_version else {
            return Ok(());
        };
        if row.state != PluginState::Enabled
            || self.host.origin(&row.id)
                == Some(Origin::Installed {
                    version: version.clone(),
                })
        {
            return Ok(());
        }
        let dir = self.ensure_version_dir(&row.id, version).await?;
        let started = self
            .start(
                context,
                &row.id,
                version,
                &dir,
                "it is not running on this node",
            )
            .await?;
        self.switch_in(context, started, "the version it replaced")
            .await;
        Ok(())
    }

    pub(super) async fn install(
        &self,
        context: &JobContext,
        payload: InstallPayload,
    ) -> Result<Value, InstallError> {
        let source = Source::parse(&payload.source).map_err(|reason| PackageError::Source {
            source_name: payload.source.clone(),
            reason,
        })?;
        let staging = self.job_staging(context)?;
        let fetched = self
            .fetch(context, &source, payload.sha256.as_deref(), &staging.path)
            .await?;
        let checked = self.unpack(context, &fetched, &staging.path).await?;
        let id = checked.manifest.id.clone();
        self.locked(
            context,
            &id,
            self.install_locked(context, &source, &fetched, &checked),
        )
        .await
    }

    async fn install_locked(
        &self,
        context: &JobContext,
        source: &Source,
        fetched: &Fetched,
        checked: &CheckedPackage,
    ) -> Result<Value, InstallError> {
        let job = context.job().id;
        let id = checked.manifest.id.clone();
        let version = checked.manifest.version.clone();
        if let Some(Origin::Development { path }) = self.host.origin(&id) {
            return Err(InstallError::Development {
                plugin: id,
                path: path.display().to_string(),
            });
        }
        if let Some(row) = self.store.plugin_get(&id).await? {
            match &row.active_version {
                Some(active) if row.changed_by == Some(job) && *active == version => {
                    self.note(
                        context,
                        format!("an earlier attempt of this job installed {id} {version}; the host stopped before the job could say so"),
                    )
                    .await;
                    self.ensure_running(context, &row).await?;
                    return Ok(json!({"plugin": id, "version": version, "installed": true}));
                }
                Some(active) if *active == version => {
                    return Err(InstallError::SameInstalled {
                        plugin: id,
                        version,
                    })
                }
                Some(active) => {
                    return Err(InstallError::AlreadyInstalled {
                        plugin: id,
                        installed: active.clone(),
                        offered: version,
                    })
                }
                None if row.changed_by != Some(job) => {
                    self.note(
                        context,
                        format!("an interrupted install of {id} is replaced by this one"),
                    )
                    .await;
                }
                None => {}
            }
        }
        self.store
            .plugin_put(InstalledPlugin {
                id: id.clone(),
                active_version: None,
                previous_version: None,
                state: PluginState::Installing,
                error: None,
                source: Some(source.describe()),
                changed_by: Some(job),
                updated_at: Timestamp::now(),
            })
            .await?;
        match self.install_steps(context, source, fetched, checked).await {
            Ok(result) => Ok(result),
            Err(error) => {
                // Nothing of the plugin stays: no row, no kept archive, no folder.
                if let Err(store_error) = self
                    .store
                    .plugin_remove(PluginRemoval {
                        plugin: id.clone(),
                        delete_data: false,
                    })
                    .await
                {
                    tracing::warn!(%store_error, plugin = %id, "undoing a failed install in the store failed; reconcile finishes it at the next start");
                }
                let _ = std::fs::remove_dir_all(self.config.plugins_dir.join(&id));
                Err(error)
            }
        }
    }

    async fn install_steps(
        &self,
        context: &JobContext,
        source: &Source,
        fetched: &Fetched,
        checked: &CheckedPackage,
    ) -> Result<Value, InstallError> {
        let job = context.job().id;
        let id = checked.manifest.id.clone();
        let version = checked.manifest.version.clone();
        self.keep(context, checked, fetched, source).await?;
        let dir = self.place(checked)?;
        let nothing = "nothing was installed";
        let metadata = self.probe(context, &id, &version, &dir, nothing).await?;
        let started = self.start(context, &id, &version, &dir, nothing).await?;
        let row = InstalledPlugin {
            id: id.clone(),
            active_version: Some(version.clone()),
            previous_version: None,
            state: PluginState::Enabled,
            error: None,
            source: Some(source.describe()),
            changed_by: Some(job),
            updated_at: Timestamp::now(),
        };
        if let Err(error) = self.store.plugin_put(row).await {
            started.stop().await;
            return Err(error.into());
        }
        self.switch_in(context, started, "the version it replaced")
            .await;
        self.step(
            context,
            "switched",
            format!("switched: plugin {id} {version} is installed and running"),
        )
        .await;
        Ok(json!({
            "plugin": id,
            "version": version,
            "sha256": fetched.sha256,
            "metadata": metadata,
        }))
    }

    pub(super) async fn update(
        &self,
        context: &JobContext,
        payload: UpdatePayload,
    ) -> Result<Value, InstallError> {
        let plugin = payload.plugin.clone();
        self.locked(context, &plugin, async {
            let row = self.installed(&payload.plugin).await?;
            let target = match (&payload.source, &payload.version) {
                (Some(source), _) => Target::Fetch {
                    source: Source::parse(source).map_err(|reason| PackageError::Source {
                        source_name: source.clone(),
                        reason,
                    })?,
                    sha256: payload.sha256.clone(),
                },
                (None, Some(version)) => Target::Kept(version.clone()),
                (None, None) => {
                    return Err(PackageError::Source {
                        source_name: "the update".to_owned(),
                        reason: "it names neither a source nor a version".to_owned(),
                    }
                    .into())
                }
            };
            self.switch_version(context, row, target, payload.allow_downgrade)
                .await
        })
        .await
    }

    pub(super) async fn rollback(
        &self,
        context: &JobContext,
        plugin: &str,
    ) -> Result<Value, InstallError> {
        self.locked(context, plugin, async {
            let row = self.installed(plugin).await?;
            let job = context.job().id;
            // A retry of this job after it switched: the versions have traded places already.
            let target = if row.changed_by == Some(job) {
                row.active_version.clone()
            } else {
                row.previous_version.clone()
            };
            let Some(previous) = target else {
                return Err(InstallError::NoPrevious {
                    plugin: plugin.to_owned(),
                });
            };
            self.switch_version(context, row, Target::Kept(previous), true)
                .await
        })
        .await
    }

    /// Update and rollback: get the target version in place, start it once, then switch, with
    /// the active version serving until the switch.
    async fn switch_version(
        &self,
        context: &JobContext,
        row: InstalledPlugin,
        target: Target,
        allow_downgrade: bool,
    ) -> Result<Value, InstallError> {
        let job = context.job().id;
        let id = row.id.clone();
        let active = row
            .active_version
            .clone()
            .ok_or_else(|| InstallError::NotInstalled { plugin: id.clone() })?;
        let staging = self.job_staging(context)?;
        let mut fetched_package = None;
        let (version, source) = match target {
            Target::Fetch { source, sha256 } => {
                let fetched = self
                    .fetch(context, &source, sha256.as_deref(), &staging.path)
                    .await?;
                let checked = self.unpack(context, &fetched, &staging.path).await?;
                if checked.manifest.id != id {
                    return Err(InstallError::WrongPlugin {
                        expected: id,
                        found: checked.manifest.id,
                    });
                }
                let version = checked.manifest.version.clone();
                let described = source.describe();
                fetched_package = Some((fetched, checked, source));
                (version, described)
            }
            Target::Kept(version) => (version, "store".to_owned()),
        };
        if row.changed_by == Some(job) && active == version {
            self.note(
                context,
                format!("an earlier attempt of this job switched {id} to {version}; the host stopped before the job could say so"),
            )
            .await;
            self.ensure_running(context, &row).await?;
            return Ok(json!({"plugin": id, "version": version, "previous": row.previous_version}));
        }
        if version == active {
            return Err(InstallError::SameVersion {
                plugin: id,
                version,
            });
        }
        let older = match (
            semver::Version::parse(&version),
            semver::Version::parse(&active),
        ) {
            (Ok(offered), Ok(current)) => offered < current,
            _ => false,
        };
        if older && !allow_downgrade {
            return Err(InstallError::Downgrade {
                plugin: id,
                active,
                offered: version,
            });
        }
        let should_run = matches!(row.state, PluginState::Enabled | PluginState::Failed);
        let outcome = if should_run {
            format!("{active} keeps running")
        } else {
            format!("{active} stays the installed version")
        };
        let kept_before = self
            .store
            .package_list(&id)
            .await?
            .iter()
            .any(|info| info.version == version);
        let dir = match &fetched_package {
            Some((fetched, checked, fetched_from)) => {
                self.keep(context, checked, fetched, fetched_from).await?;
                self.place(checked)?
            }
            None => self.ensure_version_dir(&id, &version).await?,
        };
        let tried = async {
            let metadata = self.probe(context, &id, &version, &dir, &outcome).await?;
            let started = if should_run {
                Some(self.start(context, &id, &version, &dir, &outcome).await?)
            } else {
                None
            };
            Ok::<_, InstallError>((metadata, started))
        }
        .await;
        let (metadata, started) = match tried {
            Ok(ready) => ready,
            Err(error) => {
                // A version this job brought leaves no trace; one kept before stays kept.
                if !kept_before {
                    let _ = self.store.package_delete(&id, &version).await;
                    let _ = std::fs::remove_dir_all(&dir);
                }
                return Err(error);
            }
        };
        let updated = InstalledPlugin {
            active_version: Some(version.clone()),
            previous_version: Some(active.clone()),
            state: if should_run {
                PluginState::Enabled
            } else {
                PluginState::Disabled
            },
            error: None,
            source: Some(source),
            changed_by: Some(job),
            ..row
        };
        if let Err(error) = self.store.plugin_put(updated).await {
            if let Some(started) = started {
                started.stop().await;
            }
            return Err(error.into());
        }
        match started {
            Some(started) => {
                self.step(
                    context,
                    "switched",
                    format!("switched: plugin {id} {version} is active; {active} stops once its runs finish"),
                )
                .await;
                self.switch_in(context, started, &format!("{id} {active}"))
                    .await;
            }
            None => {
                self.step(
                    context,
                    "switched",
                    format!("switched: plugin {id} {version} is the installed version; it stays disabled"),
                )
                .await;
            }
        }
        Ok(json!({
            "plugin": id,
            "version": version,
            "previous": active,
            "metadata": metadata,
        }))
    }

    pub(super) async fn uninstall(
        &self,
        context: &JobContext,
        payload: UninstallPayload,
    ) -> Result<Value, InstallError> {
        let id = payload.plugin.clone();
        self.locked(context, &id, async {
            if let Some(Origin::Development { path }) = self.host.origin(&id) {
                return Err(InstallError::Development {
                    plugin: id.clone(),
                    path: path.display().to_string(),
                });
            }
            let row = self.store.plugin_get(&id).await?;
            let version = match &row {
                Some(row) => row.active_version.clone(),
                // A retry after the row went: finish removing what is on disk.
                None if context.job().attempt > 1 => None,
                None => return Err(InstallError::NotInstalled { plugin: id.clone() }),
            };
            self.step(context, "removing", format!("removing plugin {id} from the registry"))
                .await;
            self.store
                .plugin_remove(PluginRemoval {
                    plugin: id.clone(),
                    delete_data: payload.delete_data,
                })
                .await?;
            if let Some(supervisor) = self.host.unload(&id) {
                self.step(context, "stopping", format!("stopping {id} once its runs finish"))
                    .await;
                self.retire(context, &id, supervisor).await;
            }
            let folder = self.config.plugins_dir.join(&id);
            if folder.exists() {
                std::fs::remove_dir_all(&folder).map_err(InstallError::io("cannot remove", &folder))?;
            }
            if payload.delete_data {
                let data = self.host.data_root().join(&id);
                if data.exists() {
                    std::fs::remove_dir_all(&data).map_err(InstallError::io("cannot remove", &data))?;
                }
                self.note(context, format!("deleted the data of {id}: its key-value store, cached metadata and data folder")).await;
            } else {
                self.note(context, format!("kept the data of {id} (its key-value store and data folder); uninstall with --delete-data to remove it")).await;
            }
            self.step(context, "uninstalled", format!("plugin {id} is uninstalled"))
                .await;
            Ok(json!({"plugin": id, "version": version, "data_deleted": payload.delete_data}))
        })
        .await
    }

    pub(super) async fn enable(
        &self,
        context: &JobContext,
        id: &str,
    ) -> Result<Value, InstallError> {
        self.locked(context, id, async {
            let row = self.installed(id).await?;
            let version = row.active_version.clone().unwrap_or_default();
            match row.state {
                PluginState::Failed => {
                    return Err(InstallError::PluginFailed {
                        plugin: id.to_owned(),
                        reason: row
                            .error
                            .clone()
                            .unwrap_or_else(|| "no reason was recorded".to_owned()),
                    })
                }
                PluginState::Enabled => {
                    self.ensure_running(context, &row).await?;
                    self.note(context, format!("plugin {id} {version} is already enabled"))
                        .await;
                    return Ok(json!({"plugin": id, "version": version, "enabled": true}));
                }
                PluginState::Disabled | PluginState::Installing => {}
            }
            let dir = self.ensure_version_dir(id, &version).await?;
            let started = self
                .start(context, id, &version, &dir, "it stays disabled")
                .await?;
            let enabled = InstalledPlugin {
                state: PluginState::Enabled,
                error: None,
                changed_by: Some(context.job().id),
                ..row
            };
            if let Err(error) = self.store.plugin_put(enabled).await {
                started.stop().await;
                return Err(error.into());
            }
            self.switch_in(context, started, "the version it replaced")
                .await;
            self.step(
                context,
                "enabled",
                format!("plugin {id} {version} is enabled and running"),
            )
            .await;
            Ok(json!({"plugin": id, "version": version, "enabled": true}))
        })
        .await
    }

    pub(super) async fn disable(
        &self,
        context: &JobContext,
        id: &str,
    ) -> Result<Value, InstallError> {
        self.locked(context, id, async {
            let row = self.installed(id).await?;
            let version = row.active_version.clone().unwrap_or_default();
            if row.state != PluginState::Disabled {
                let disabled = InstalledPlugin {
                    state: PluginState::Disabled,
                    error: None,
                    changed_by: Some(context.job().id),
                    ..row
                };
                self.store.plugin_put(disabled).await?;
            }
            if let Some(supervisor) = self.host.unload(id) {
                self.step(
                    context,
                    "stopping",
                    format!("stopping {id} once its runs finish"),
                )
                .await;
                self.retire(context, &format!("{id} {version}"), supervisor)
                    .await;
            }
            self.step(
                context,
                "disabled",
                format!("plugin {id} {version} is disabled"),
            )
            .await;
            Ok(json!({"plugin": id, "version": version, "enabled": false}))
        })
        .await
    }

    pub(super) async fn refresh_metadata(
        &self,
        context: &JobContext,
        id: &str,
    ) -> Result<Value, InstallError> {
        self.locked(context, id, async {
            let row = self.installed(id).await?;
            let version = row.active_version.clone().unwrap_or_default();
            let dir = self.ensure_version_dir(id, &version).await?;
            let metadata = self
                .probe(
                    context,
                    id,
                    &version,
                    &dir,
                    "the cached metadata is unchanged",
                )
                .await?;
            let folder = dir.clone();
            let checksum = blocking(move || {
                crate::plugins::package_checksum(&folder).map_err(|error| PackageError::Io {
                    what: "cannot read",
                    path: folder.display().to_string(),
                    reason: error.to_string(),
                })
            })
            .await?;
            self.store
                .plugin_metadata_put(PluginMetadataRecord {
                    plugin: id.to_owned(),
                    version: version.clone(),
                    checksum,
                    state: MetadataState::Fresh,
                    metadata: metadata
                        .as_ref()
                        .and_then(|metadata| serde_json::to_value(metadata).ok()),
                    error: None,
                    updated_at: Timestamp::now(),
                })
                .await?;
            self.step(
                context,
                "refreshed",
                format!("metadata of {id} {version} cached"),
            )
            .await;
            Ok(json!({"plugin": id, "version": version, "metadata": metadata}))
        })
        .await
    }
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PackageError> + Send + 'static,
) -> Result<T, InstallError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| InstallError::Io {
            what: "file work failed",
            path: String::new(),
            reason: error.to_string(),
        })?
        .map_err(InstallError::from)
}

/// Writes a download's progress to its job: a log line at every tenth (or every 4 MiB when the
/// size is unknown), the progress at most four times a second.
async fn report_download(
    store: Arc<dyn Store>,
    job: JobId,
    mut progress: watch::Receiver<DownloadProgress>,
) {
    let mut last_tenth = None;
    let mut last_logged_bytes = 0u64;
    while progress.changed().await.is_ok() {
        let now = *progress.borrow_and_update();
        let percent = now
            .total
            .filter(|total| *total > 0)
            .map(|total| now.received.saturating_mul(100) / total);
        let line = match (percent, now.total) {
            (Some(percent), Some(total)) if last_tenth != Some(percent / 10) => {
                last_tenth = Some(percent / 10);
                Some(format!(
                    "downloading {percent}% ({} of {total} bytes)",
                    now.received
                ))
            }
            (None, _) if now.received >= last_logged_bytes + 4 * 1024 * 1024 => {
                last_logged_bytes = now.received;
                Some(format!("downloading: {} bytes so far", now.received))
            }
            _ => None,
        };
        if let Some(line) = line {
            let _ = store
                .log_append(
                    job,
                    vec![NewLogLine {
                        level: LogLevel::Info,
                        message: line,
                    }],
                )
                .await;
        }
        let _ = store
            .job_progress(
                job,
                json!({"step": "downloading", "received": now.received, "total": now.total, "percent": percent}),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
