//! Reconcile at start: the registry in the store is the desired state; the disk and the host's
//! processes are brought in line with it before the worker pool takes jobs.
//!
//! - `plugins/.staging/` is emptied (what an interrupted action was working on).
//! - A first install that never reached its switch (no active version) and whose job is no
//!   longer queued or running is rolled back: its row, kept archives and folder go. When its job
//!   is still alive (it will be retried after its lease expires), it is left to that job.
//! - Every enabled plugin's active version is started, unpacked again from the store first when
//!   its folder is missing. One that cannot be is marked failed with the reason.
//! - Folders in `plugins/` of plugins the registry does not know (an uninstall interrupted
//!   after its row went) are removed.
//!
//! Then, while `serve` runs, [`Installer::converge`] follows the registry every few seconds, so
//! that an admin action that ran on another node reaches this one without a restart.

use serde::Serialize;

use super::{InstallError, Installer};
use crate::plugins::host::Origin;
use crate::store::{InstalledPlugin, PluginRemoval, PluginState};

/// What reconcile did, for the log.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReconcileReport {
    pub started: Vec<String>,
    pub rolled_back: Vec<String>,
    pub failed: Vec<String>,
    pub removed_folders: Vec<String>,
}

impl Installer {
    /// Brings disk and processes in line with the registry. Errors only when the store cannot
    /// be read; a plugin that cannot be started is marked failed and the others go on.
    pub async fn reconcile(&self) -> Result<ReconcileReport, InstallError> {
        let mut report = ReconcileReport::default();
        let staging = self.config.plugins_dir.join(".staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .map_err(InstallError::io("cannot empty", &staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(InstallError::io("cannot create", &staging))?;
        self.prune_uploads().await?;
        let rows = self.store.plugin_list().await?;
        for row in &rows {
            let holder = self.store.plugin_lock_holder(&row.id).await?;
            match &row.active_version {
                None if holder.is_none() => {
                    tracing::warn!(plugin = %row.id, job = ?row.changed_by, "an interrupted install was rolled back: nothing of it is installed");
                    self.store
                        .plugin_remove(PluginRemoval {
                            plugin: row.id.clone(),
                            delete_data: false,
                        })
                        .await?;
                    let _ = std::fs::remove_dir_all(self.config.plugins_dir.join(&row.id));
                    report.rolled_back.push(row.id.clone());
                }
                None => {
                    tracing::info!(plugin = %row.id, job = ?holder, "an install is under way; its job finishes it");
                }
                Some(version) if row.state == PluginState::Enabled => {
                    if let Some(Origin::Development { path }) = self.host.origin(&row.id) {
                        tracing::warn!(plugin = %row.id, path = %path.display(), "plugin is installed and also loaded with --plugin; the --plugin folder runs until serve starts without it");
                        continue;
                    }
                    match self.start_at_boot(row, version).await {
                        Ok(()) => report.started.push(format!("{} {version}", row.id)),
                        Err(error) => {
                            tracing::error!(plugin = %row.id, %error, "an installed plugin could not be started");
                            let failed = InstalledPlugin {
                                state: PluginState::Failed,
                                error: Some(error.to_string()),
                                ..row.clone()
                            };
                            self.store.plugin_put(failed).await?;
                            report.failed.push(row.id.clone());
                        }
                    }
                }
                Some(_) => {}
            }
        }
        let known: std::collections::HashSet<&str> =
            rows.iter().map(|row| row.id.as_str()).collect();
        if let Ok(entries) = std::fs::read_dir(&self.config.plugins_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || known.contains(name.as_str()) {
                    continue;
                }
                if self.store.plugin_lock_holder(&name).await?.is_some() {
                    continue;
                }
                tracing::info!(folder = %entry.path().display(), "removing the folder of a plugin the registry does not know");
                let _ = std::fs::remove_dir_all(entry.path());
                report.removed_folders.push(name);
            }
        }
        Ok(report)
    }

    /// Forgets uploaded packages older than [`super::uploads::UPLOAD_RETENTION`].
    async fn prune_uploads(&self) -> Result<(), InstallError> {
        let retention =
            i64::try_from(super::uploads::UPLOAD_RETENTION.as_micros()).unwrap_or(i64::MAX);
        let cut =
            crate::store::Timestamp(crate::store::Timestamp::now().0.saturating_sub(retention));
        let pruned = self.store.upload_prune(cut).await?;
        if pruned > 0 {
            tracing::info!(pruned, "forgot uploaded packages whose jobs never ended");
        }
        Ok(())
    }

    async fn start_at_boot(
        &self,
        row: &InstalledPlugin,
        version: &str,
    ) -> Result<(), InstallError> {
        let dir = self.ensure_version_dir(&row.id, version).await?;
        self.check_installed(&dir)?;
        self.host
            .load_installed(&dir)
            .map_err(|error| InstallError::StartFailed {
                plugin: row.id.clone(),
                version: version.to_owned(),
                reason: error.to_string(),
                outcome: "it is marked failed".to_owned(),
            })?;
        self.watch_failures(&row.id);
        Ok(())
    }
}

/// What one pass of [`Installer::converge`] changed on this node.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConvergeReport {
    /// `id version` of what was started or switched to.
    pub started: Vec<String>,
    /// Plugins stopped because the registry says disabled or no longer lists them.
    pub stopped: Vec<String>,
    /// `(id version, reason)` of what could not be started (tried again on a later pass).
    pub failed: Vec<(String, String)>,
}

impl ConvergeReport {
    pub fn is_empty(&self) -> bool {
        self.started.is_empty() && self.stopped.is_empty() && self.failed.is_empty()
    }
}

impl Installer {
    /// Brings the plugins this node runs in line with the registry while `serve` runs: what an
    /// admin job on another node installed, updated, rolled back, enabled, disabled or
    /// uninstalled. A plugin whose admin lock is held is left to the job holding it; a version
    /// that fails to start here is logged and tried again on a later pass, without marking it
    /// failed for every node. Plugins loaded with `--plugin` are never touched.
    ///
    /// # Errors
    /// Only when the store cannot be read.
    pub async fn converge(&self) -> Result<ConvergeReport, InstallError> {
        self.converge_skipping(&std::collections::HashSet::new())
            .await
    }

    /// [`Installer::converge`], leaving out the `id version`s in `skip` (they failed to start
    /// here a moment ago).
    async fn converge_skipping(
        &self,
        skip: &std::collections::HashSet<String>,
    ) -> Result<ConvergeReport, InstallError> {
        let mut report = ConvergeReport::default();
        let rows = self.store.plugin_list().await?;
        let mut ids: std::collections::BTreeSet<String> =
            rows.iter().map(|row| row.id.clone()).collect();
        ids.extend(self.host.ids());
        for id in ids {
            let listed = rows.iter().find(|row| row.id == id);
            if self.out_of_line(&id, listed).is_none() {
                continue;
            }
            // Out of line by the list. Act only with this node's lock of the plugin (an admin
            // action running here holds it) and on its row read again under that lock: the
            // list may be older than an action that just ended here.
            let Ok(_here) = self.local_lock(&id).try_lock_owned() else {
                continue;
            };
            let row = self.store.plugin_get(&id).await?;
            let Some(wanted) = self.out_of_line(&id, row.as_ref()) else {
                continue;
            };
            if self.store.plugin_lock_holder(&id).await?.is_some() {
                // An admin job on another node is at it; its outcome is read next time.
                continue;
            }
            match wanted {
                Some(version) if skip.contains(&format!("{id} {version}")) => {}
                Some(version) => match self.start_here(&id, &version).await {
                    Ok(()) => report.started.push(format!("{id} {version}")),
                    Err(error) => report
                        .failed
                        .push((format!("{id} {version}"), error.to_string())),
                },
                None => {
                    self.stop_here(&id);
                    if row.is_none() {
                        // Uninstalled elsewhere: its folder goes too (its data follows the
                        // uninstall's choice, made where it ran).
                        let folder = self.config.plugins_dir.join(&id);
                        if folder.exists() {
                            let _ = std::fs::remove_dir_all(&folder);
                        }
                    }
                    report.stopped.push(id);
                }
            }
        }
        Ok(report)
    }

    /// What this node should run of plugin `id` when it differs from what it runs: `Some(Some(
    /// version))` to start that version, `Some(None)` to stop it; `None` when it is in line or
    /// is not this pass's to change (loaded with `--plugin`, being installed, or failed).
    fn out_of_line(&self, id: &str, row: Option<&InstalledPlugin>) -> Option<Option<String>> {
        let running = match self.host.origin(id) {
            Some(Origin::Development { .. }) => return None,
            Some(Origin::Installed { version }) => Some(version),
            None => None,
        };
        let wanted = match row {
            None => None,
            Some(row) => match (&row.active_version, row.state) {
                (Some(version), PluginState::Enabled) => Some(version.clone()),
                (Some(_), PluginState::Disabled) => None,
                _ => return None,
            },
        };
        (running != wanted).then_some(wanted)
    }

    /// Starts `version` of `id` here (unpacked from the store when its folder is missing) and
    /// switches to it; the version it replaces drains in the background.
    async fn start_here(&self, id: &str, version: &str) -> Result<(), InstallError> {
        let dir = self.ensure_version_dir(id, version).await?;
        self.check_installed(&dir)?;
        let started =
            self.host
                .start_version(&dir)
                .await
                .map_err(|reason| InstallError::StartFailed {
                    plugin: id.to_owned(),
                    version: version.to_owned(),
                    reason,
                    outcome: "this node tries again shortly".to_owned(),
                })?;
        if let Some(old) = self.host.switch(started) {
            tokio::spawn(crate::plugins::host::drain(old, self.config.drain_grace));
        }
        self.watch_failures(id);
        Ok(())
    }

    /// Takes `id` out of this node; its runs in flight finish (within the drain grace) in the
    /// background.
    fn stop_here(&self, id: &str) {
        if let Some(supervisor) = self.host.unload(id) {
            tokio::spawn(crate::plugins::host::drain(
                supervisor,
                self.config.drain_grace,
            ));
        }
    }

    /// Runs [`Installer::converge`] every `every` until `stop`, logging what each pass changed.
    pub fn converge_every(
        self: &std::sync::Arc<Self>,
        every: std::time::Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let installer = self.clone();
        tokio::spawn(async move {
            // A version that will not start here is tried again a minute later.
            let mut resting: std::collections::HashMap<String, tokio::time::Instant> =
                std::collections::HashMap::new();
            let mut next_prune = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let now = tokio::time::Instant::now();
                resting.retain(|_, until| *until > now);
                if now >= next_prune {
                    next_prune = now + std::time::Duration::from_secs(3600);
                    if let Err(error) = installer.prune_uploads().await {
                        tracing::warn!(%error, "pruning old uploads failed; trying again in an hour");
                    }
                }
                let skip = resting.keys().cloned().collect();
                match installer.converge_skipping(&skip).await {
                    Ok(report) if !report.is_empty() => {
                        for started in &report.started {
                            tracing::info!(plugin = %started, "following the registry: started here");
                        }
                        for stopped in &report.stopped {
                            tracing::info!(plugin = %stopped, "following the registry: stopped here");
                        }
                        for (plugin, reason) in report.failed {
                            tracing::error!(%plugin, %reason, "following the registry: cannot start it here; trying again in a minute");
                            resting.insert(plugin, now + std::time::Duration::from_secs(60));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "following the registry failed; trying again");
                    }
                }
            }
        })
    }
}
