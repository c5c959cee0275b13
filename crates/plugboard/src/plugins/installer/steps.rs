//! The steps the admin actions are made of: staging folders, the admin lock, fetching, unpacking,
//! keeping the archive, placing a version, starting it, switching and retiring. Every step is a
//! line in the job's log and the job's progress names it (`downloading`, `verifying`,
//! `unpacking`, `starting`, `switched`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::{InstallError, Installer, Source};
use crate::plugins::host::{drain, Origin, Started};
use crate::plugins::package::{self, CheckedPackage, DownloadProgress, Fetched, PackageError};
use crate::queue::JobContext;
use crate::store::{
    InstalledPlugin, JobId, LockOutcome, LogLevel, NewLogLine, PackageRecord, PluginState, Store,
    Timestamp,
};

/// A folder in `plugins/.staging/`, removed when dropped: whatever a failed action left there
/// goes with it.
pub(super) struct Staging {
    pub(super) path: PathBuf,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Installer {
    pub(super) fn staging(&self, name: String) -> Result<Staging, InstallError> {
        let path = self.config.plugins_dir.join(".staging").join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(InstallError::io("cannot create", &path))?;
        Ok(Staging { path })
    }

    pub(super) fn job_staging(&self, context: &JobContext) -> Result<Staging, InstallError> {
        let job = context.job();
        self.staging(format!("job-{}-{}", job.id, job.attempt))
    }

    pub(super) fn version_dir(&self, id: &str, version: &str) -> PathBuf {
        self.config.plugins_dir.join(id).join(version)
    }

    pub(super) async fn step(&self, context: &JobContext, step: &str, message: String) {
        let _ = context.log(LogLevel::Info, message.clone()).await;
        let _ = context
            .progress(json!({"step": step, "message": message}))
            .await;
    }

    pub(super) async fn note(&self, context: &JobContext, message: String) {
        let _ = context.log(LogLevel::Info, message).await;
    }

    /// Takes the plugin's admin lock, waiting while another live job holds it.
    pub(super) async fn lock(
        &self,
        context: &JobContext,
        plugin: &str,
    ) -> Result<(), InstallError> {
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

    pub(super) async fn unlock(&self, context: &JobContext, plugin: &str) {
        if let Err(error) = self
            .store
            .plugin_lock_release(plugin, context.job().id)
            .await
        {
            tracing::warn!(%error, plugin, "releasing a plugin's admin lock failed; it frees itself when the job ends");
        }
    }

    /// Runs `action` holding the plugin's lock.
    pub(super) async fn locked<T>(
        &self,
        context: &JobContext,
        plugin: &str,
        action: impl std::future::Future<Output = Result<T, InstallError>>,
    ) -> Result<T, InstallError> {
        // The store's lock first: waiting for it says which job holds it. Then this node's,
        // which a pass of `converge` may hold for a moment.
        self.lock(context, plugin).await?;
        let here = self.local_lock(plugin).lock_owned().await;
        let outcome = action.await;
        drop(here);
        self.unlock(context, plugin).await;
        outcome
    }

    /// Forgets the oldest kept versions of `id` beyond `InstallerConfig::keep_versions`, never
    /// one of `keep` (the active and previous versions): their archives in the store and their
    /// folders on this node (other nodes keep an unused folder of it until it is removed by hand).
    /// Failing to is logged, never fatal: the action it follows has succeeded.
    pub(super) async fn forget_old_versions(&self, context: &JobContext, id: &str, keep: &[&str]) {
        let kept = match self.store.package_list(id).await {
            Ok(kept) => kept,
            Err(error) => {
                tracing::warn!(plugin = %id, %error, "listing kept versions failed; nothing forgotten");
                return;
            }
        };
        // Oldest first, as the store lists them.
        let mut surplus = kept.len().saturating_sub(self.config.keep_versions);
        for info in &kept {
            if surplus == 0 {
                break;
            }
            if keep.contains(&info.version.as_str()) {
                continue;
            }
            if let Err(error) = self.store.package_delete(id, &info.version).await {
                tracing::warn!(plugin = %id, version = %info.version, %error, "forgetting an old version failed");
                continue;
            }
            let _ = std::fs::remove_dir_all(self.version_dir(id, &info.version));
            surplus -= 1;
            self.note(
                context,
                format!(
                    "forgot version {} of {id} (keeping the newest {}, package_keep_versions)",
                    info.version, self.config.keep_versions
                ),
            )
            .await;
        }
    }

    /// This node's lock of `plugin` (see `Installer::local`).
    pub(super) fn local_lock(&self, plugin: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(plugin.to_owned())
            .or_default()
            .clone()
    }

    /// Gets the archive of `source` into `staging`, then checks `expected_sha256`.
    pub(super) async fn fetch(
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
            Source::Path(path) | Source::Uploaded(path, _) => {
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
                    // A folder without a manifest at its top is no package: refused before
                    // anything is read (a source of `/` would otherwise pack the whole disk).
                    if !path.join("plugin.toml").is_file() {
                        return Err(PackageError::Source {
                            source_name: path.display().to_string(),
                            reason: "it is a folder without a plugin.toml at its top, so it is not a plugin package; give the package's own folder or its archive".to_owned(),
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
    pub(super) async fn unpack(
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
    pub(super) async fn keep(
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
    pub(super) fn place(&self, checked: &CheckedPackage) -> Result<PathBuf, InstallError> {
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
    pub(super) async fn installed(&self, id: &str) -> Result<InstalledPlugin, InstallError> {
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
    pub(super) async fn probe(
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
        self.check_installed(dir)?;
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
                "metadata fetched: {}, {}, {}, {}",
                crate::words::count(metadata.events.len() as u64, "event"),
                crate::words::count(metadata.routes.len() as u64, "route"),
                crate::words::count(metadata.tools.len() as u64, "tool"),
                crate::words::count(metadata.ui.len() as u64, "UI page")
            ),
            None => "metadata fetched".to_owned(),
        };
        self.step(context, "metadata", summary).await;
        Ok(metadata)
    }

    /// Starts a version beside whatever runs, every instance ready.
    pub(super) async fn start(
        &self,
        context: &JobContext,
        id: &str,
        version: &str,
        dir: &Path,
        outcome: &str,
    ) -> Result<Started, InstallError> {
        self.step(context, "starting", format!("starting {id} {version}"))
            .await;
        self.check_installed(dir)?;
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
    pub(super) async fn retire(
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
    pub(super) async fn switch_in(
        &self,
        context: &JobContext,
        started: Started,
        replaced_label: &str,
    ) {
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
    pub(super) async fn ensure_running(
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
}

/// Runs file work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
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
