//! The admin actions, each from its checks to its last step, built from the steps in `steps.rs`.

use serde_json::{json, Value};

use plugboard_protocol::manifest::Permissions;

use super::consent::Approval;
use super::steps::blocking;
use super::{InstallError, InstallPayload, Installer, Source, UninstallPayload, UpdatePayload};
use crate::plugins::host::Origin;
use crate::plugins::package::{CheckedPackage, Fetched, PackageError};
use crate::queue::JobContext;
use crate::store::{
    InstalledPlugin, MetadataState, PluginMetadataRecord, PluginRemoval, PluginState, Timestamp,
};

/// The version an update or rollback goes to.
enum Target {
    Fetch {
        source: Source,
        sha256: Option<String>,
    },
    Kept(String),
}

impl Installer {
    pub(super) async fn install(
        &self,
        context: &JobContext,
        payload: InstallPayload,
    ) -> Result<Value, InstallError> {
        let source = Source::parse(&payload.source)
            .map_err(|reason| PackageError::Source {
                source_name: payload.source.clone(),
                reason,
            })?
            .uploaded_as(payload.uploaded_as.as_deref());
        let staging = self.job_staging(context)?;
        let fetched = self
            .fetch(context, &source, payload.sha256.as_deref(), &staging.path)
            .await?;
        let checked = self.unpack(context, &fetched, &staging.path).await?;
        let id = checked.manifest.id.clone();
        let grant = payload.grant_permissions.as_ref();
        self.locked(
            context,
            &id,
            self.install_locked(context, &source, &fetched, &checked, grant),
        )
        .await
    }

    async fn install_locked(
        &self,
        context: &JobContext,
        source: &Source,
        fetched: &Fetched,
        checked: &CheckedPackage,
        grant: Option<&Permissions>,
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
        // Before anything is kept or placed: refused permissions and the admin's consent.
        let granted = self
            .consent(context, &checked.manifest, None, grant, Approval::Install)
            .await?;
        self.store
            .plugin_put(InstalledPlugin {
                id: id.clone(),
                active_version: None,
                previous_version: None,
                state: PluginState::Installing,
                error: None,
                source: Some(source.describe()),
                changed_by: Some(job),
                granted_permissions: Some(granted.clone()),
                updated_at: Timestamp::now(),
            })
            .await?;
        match self
            .install_steps(context, source, fetched, checked, granted)
            .await
        {
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
        granted: Value,
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
            granted_permissions: Some(granted),
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
                    source: Source::parse(source)
                        .map_err(|reason| PackageError::Source {
                            source_name: source.clone(),
                            reason,
                        })?
                        .uploaded_as(payload.uploaded_as.as_deref()),
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
            let grant = payload.grant_permissions.as_ref();
            self.switch_version(context, row, target, payload.allow_downgrade, grant)
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
            self.switch_version(context, row, Target::Kept(previous), true, None)
                .await
        })
        .await
    }

    /// Update and rollback: get the target version in place, start it once, then switch, with
    /// the active version serving until the switch. A version that asks for permissions beyond
    /// the plugin's grant needs `grant` (see `consent.rs`).
    async fn switch_version(
        &self,
        context: &JobContext,
        row: InstalledPlugin,
        target: Target,
        allow_downgrade: bool,
        grant: Option<&Permissions>,
    ) -> Result<Value, InstallError> {
        let job = context.job().id;
        let id = row.id.clone();
        let active = row
            .active_version
            .clone()
            .ok_or_else(|| InstallError::NotInstalled { plugin: id.clone() })?;
        let staging = self.job_staging(context)?;
        let mut fetched_package = None;
        let mut granted = None;
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
                // Before anything is kept or placed.
                granted = Some(
                    self.consent(
                        context,
                        &checked.manifest,
                        row.granted_permissions.as_ref(),
                        grant,
                        Approval::Update { plugin: &id },
                    )
                    .await?,
                );
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
            None => {
                let dir = self.ensure_version_dir(&id, &version).await?;
                let manifest = crate::plugins::read_manifest(&dir).map_err(PackageError::from)?;
                let approval = Approval::Kept {
                    plugin: &id,
                    version: &version,
                };
                granted = Some(
                    self.consent(
                        context,
                        &manifest,
                        row.granted_permissions.as_ref(),
                        grant,
                        approval,
                    )
                    .await?,
                );
                dir
            }
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
            granted_permissions: granted.or(row.granted_permissions.clone()),
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
        self.forget_old_versions(context, &id, &[&version, &active])
            .await;
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
                self.note(context, format!("deleted the data of {id}: its key-value store, cached metadata, tenants' configs and data folder")).await;
            } else {
                self.note(context, format!("kept the data of {id} (its key-value store, tenants' configs and data folder); uninstall with --delete-data to remove it")).await;
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
