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
        let retention =
            i64::try_from(super::uploads::UPLOAD_RETENTION.as_micros()).unwrap_or(i64::MAX);
        let cut =
            crate::store::Timestamp(crate::store::Timestamp::now().0.saturating_sub(retention));
        let pruned = self.store.upload_prune(cut).await?;
        if pruned > 0 {
            tracing::info!(pruned, "forgot uploaded packages whose jobs never ended");
        }
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

    async fn start_at_boot(
        &self,
        row: &InstalledPlugin,
        version: &str,
    ) -> Result<(), InstallError> {
        let dir = self.ensure_version_dir(&row.id, version).await?;
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
