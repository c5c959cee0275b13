//! The plugins this node runs: loading a package into a supervised process, keeping one warm
//! process per plugin, draining and replacing it, and caching the metadata it declares. What
//! the processes may call back is `services.rs`; the job kind that hands them work is `run.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::process::PluginPaths;
use super::services::PluginServices;
use super::supervisor::InstanceState;
use super::supervisor::{Supervisor, SupervisorConfig};
use crate::store::{MetadataState, PluginMetadataRecord, Store};

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] super::ManifestReadError),
    #[error("plugin {id} is already loaded from {existing}")]
    Duplicate { id: String, existing: String },
}

struct Loaded {
    supervisor: Arc<Supervisor>,
    services: Arc<PluginServices>,
    package_dir: PathBuf,
    origin: Origin,
}

/// Where a loaded plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A folder named with `serve --plugin`: run as it is, not managed by the registry.
    Development { path: PathBuf },
    /// An installed version, `plugins/<id>/<version>/`, managed by the registry.
    Installed { version: String },
}

/// A version started beside the running one, every instance ready, waiting to be switched in
/// with [`PluginHost::switch`]. Dropping it without switching leaves its processes running
/// until [`Started::stop`]: callers stop it when they give up.
pub struct Started {
    id: String,
    loaded: Loaded,
    /// What the new version declared at its handshake.
    pub metadata: Option<plugboard_protocol::Metadata>,
}

impl Started {
    /// Stops the started version's processes (a switch that was given up).
    pub async fn stop(self) {
        self.loaded.supervisor.stop().await;
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The plugins of this node.
pub struct PluginHost {
    pub(super) store: Arc<dyn Store>,
    data_root: PathBuf,
    config: SupervisorConfig,
    plugins: RwLock<HashMap<String, Loaded>>,
}

impl PluginHost {
    /// A host whose plugins keep their data under `data_root/<id>/`.
    pub fn new(
        store: Arc<dyn Store>,
        data_root: PathBuf,
        config: SupervisorConfig,
    ) -> Arc<PluginHost> {
        Arc::new(PluginHost {
            store,
            data_root,
            config,
            plugins: RwLock::new(HashMap::new()),
        })
    }

    /// Reads the package's manifest and starts the plugin's processes. Returns its id.
    pub fn load(&self, package_dir: &Path) -> Result<String, LoadError> {
        // An absolute folder: the plugin's working directory and program path must not depend
        // on where the host was started.
        let package_dir = &std::fs::canonicalize(package_dir).map_err(|error| {
            super::ManifestReadError::Read {
                path: package_dir.display().to_string(),
                reason: error.to_string(),
            }
        })?;
        let manifest = super::read_manifest(package_dir)?;
        let id = manifest.id.clone();
        let mut plugins = self
            .plugins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = plugins.get(&id) {
            return Err(LoadError::Duplicate {
                id,
                existing: existing.package_dir.display().to_string(),
            });
        }
        let checksum = super::package_checksum(package_dir).map_err(|error| {
            super::ManifestReadError::Read {
                path: package_dir.display().to_string(),
                reason: format!("cannot read the package to checksum it: {error}"),
            }
        })?;
        let loaded = self.start_loaded(
            manifest,
            package_dir,
            checksum,
            Origin::Development {
                path: package_dir.to_path_buf(),
            },
        );
        tracing::info!(plugin = %id, package = %package_dir.display(), "plugin loaded");
        plugins.insert(id.clone(), loaded);
        Ok(id)
    }

    /// Starts a plugin's processes and the task that caches its metadata.
    fn start_loaded(
        &self,
        manifest: plugboard_protocol::Manifest,
        package_dir: &Path,
        checksum: String,
        origin: Origin,
    ) -> Loaded {
        let id = manifest.id.clone();
        let version = manifest.version.clone();
        let services = PluginServices::start(id.clone(), self.store.clone());
        let paths = PluginPaths {
            package_dir: package_dir.to_path_buf(),
            data_dir: self.data_root.join(&id),
        };
        let supervisor = Supervisor::start(manifest, paths, services.clone(), self.config.clone());
        let supervisor = Arc::new(supervisor);
        tokio::spawn(cache_metadata(
            self.store.clone(),
            Arc::downgrade(&supervisor),
            id,
            version,
            checksum,
        ));
        Loaded {
            supervisor,
            services,
            package_dir: package_dir.to_path_buf(),
            origin,
        }
    }

    /// Reads an installed version's manifest and checksum (a folder `plugins/<id>/<version>/`).
    fn read_installed(
        package_dir: &Path,
    ) -> Result<(PathBuf, plugboard_protocol::Manifest, String), LoadError> {
        let package_dir =
            std::fs::canonicalize(package_dir).map_err(|error| super::ManifestReadError::Read {
                path: package_dir.display().to_string(),
                reason: error.to_string(),
            })?;
        let manifest = super::read_manifest(&package_dir)?;
        let checksum = super::package_checksum(&package_dir).map_err(|error| {
            super::ManifestReadError::Read {
                path: package_dir.display().to_string(),
                reason: format!("cannot read the package to checksum it: {error}"),
            }
        })?;
        Ok((package_dir, manifest, checksum))
    }

    /// Starts an installed version without waiting for it (reconcile at start). A plugin of the
    /// same id already loaded is left alone and named in the error.
    pub fn load_installed(&self, package_dir: &Path) -> Result<String, LoadError> {
        let (package_dir, manifest, checksum) = Self::read_installed(package_dir)?;
        let id = manifest.id.clone();
        let version = manifest.version.clone();
        let mut plugins = self
            .plugins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = plugins.get(&id) {
            return Err(LoadError::Duplicate {
                id,
                existing: existing.package_dir.display().to_string(),
            });
        }
        let loaded = self.start_loaded(
            manifest,
            &package_dir,
            checksum,
            Origin::Installed { version },
        );
        tracing::info!(plugin = %id, package = %package_dir.display(), "installed plugin loaded");
        plugins.insert(id.clone(), loaded);
        Ok(id)
    }

    /// Starts a package once, one instance and no restart, waits for its handshake and stops it:
    /// what an install or update does before anything is switched. The error is why it did not
    /// start (the plugin's exit status and last log lines, a refused handshake, a timeout).
    pub async fn probe(
        &self,
        package_dir: &Path,
    ) -> Result<Option<plugboard_protocol::Metadata>, String> {
        let (package_dir, mut manifest, _) =
            Self::read_installed(package_dir).map_err(|error| error.to_string())?;
        manifest.instances = 1;
        let id = manifest.id.clone();
        let services = PluginServices::start(id.clone(), self.store.clone());
        let paths = PluginPaths {
            package_dir: package_dir.clone(),
            data_dir: self.data_root.join(&id),
        };
        let config = SupervisorConfig {
            crash_loop_limit: 1,
            ..self.config.clone()
        };
        let timeout = config.handshake_timeout + Duration::from_secs(5);
        let supervisor = Supervisor::start(manifest, paths, services, config);
        let ready = supervisor.wait_ready(timeout).await;
        let metadata = supervisor.metadata();
        supervisor.stop().await;
        ready.map(|()| metadata)
    }

    /// Starts an installed version beside whatever runs now and waits until every instance is
    /// ready. Nothing is switched: the running version keeps serving.
    pub async fn start_version(&self, package_dir: &Path) -> Result<Started, String> {
        let (package_dir, manifest, checksum) =
            Self::read_installed(package_dir).map_err(|error| error.to_string())?;
        let id = manifest.id.clone();
        let version = manifest.version.clone();
        let timeout = self.config.handshake_timeout + Duration::from_secs(5);
        let loaded = self.start_loaded(
            manifest,
            &package_dir,
            checksum,
            Origin::Installed { version },
        );
        if let Err(reason) = loaded.supervisor.wait_ready(timeout).await {
            loaded.supervisor.stop().await;
            return Err(reason);
        }
        let metadata = loaded.supervisor.metadata();
        Ok(Started {
            id,
            loaded,
            metadata,
        })
    }

    /// Puts a started version in place, in one step: runs that start from now on go to it.
    /// Returns the supervisor it replaced, for the caller to [`drain`].
    pub fn switch(&self, started: Started) -> Option<Arc<Supervisor>> {
        tracing::info!(plugin = %started.id, package = %started.loaded.package_dir.display(), "switched to a new version");
        self.plugins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(started.id, started.loaded)
            .map(|old| old.supervisor)
    }

    /// Takes an installed plugin out: no new run reaches it. Returns its supervisor, for the
    /// caller to [`drain`]. A development plugin is not touched (`None`).
    pub fn unload(&self, id: &str) -> Option<Arc<Supervisor>> {
        let mut plugins = self
            .plugins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !matches!(plugins.get(id)?.origin, Origin::Installed { .. }) {
            return None;
        }
        tracing::info!(plugin = %id, "plugin unloaded");
        plugins.remove(id).map(|loaded| loaded.supervisor)
    }

    /// Where a loaded plugin came from.
    pub fn origin(&self, id: &str) -> Option<Origin> {
        self.plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .map(|loaded| loaded.origin.clone())
    }

    /// Where plugins keep their data (`<root>/<id>/`).
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// The supervisor of a loaded plugin.
    pub fn supervisor(&self, id: &str) -> Option<Arc<Supervisor>> {
        self.plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .map(|loaded| loaded.supervisor.clone())
    }

    pub(super) fn services(&self, id: &str) -> Option<Arc<PluginServices>> {
        self.plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .map(|loaded| loaded.services.clone())
    }

    /// Loaded plugin ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Stops every plugin gracefully.
    pub async fn stop_all(&self) {
        let supervisors: Vec<Arc<Supervisor>> = self
            .plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .map(|loaded| loaded.supervisor.clone())
            .collect();
        // Together: each may wait its grace period for a plugin that ignores `shutdown`.
        futures_util::future::join_all(supervisors.iter().map(|supervisor| supervisor.stop()))
            .await;
    }
}

/// Lets the requests in flight on a replaced or unloaded version finish, for up to `grace`,
/// then stops its processes gracefully. Returns how many requests were still in flight when it
/// stopped them (their jobs fail with a retryable error and run again on what replaced it).
pub async fn drain(supervisor: Arc<Supervisor>, grace: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + grace;
    let mut in_flight = supervisor.in_flight();
    while in_flight > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        in_flight = supervisor.in_flight();
    }
    supervisor.stop().await;
    in_flight
}

/// Keeps the plugin's metadata record in the store current: stale while a changed package has
/// not answered yet, fresh after each handshake, error with the reason when it fails.
///
/// Holds the supervisor weakly: the task ends when the plugin is unloaded and its supervisor
/// dropped.
async fn cache_metadata(
    store: Arc<dyn Store>,
    supervisor: std::sync::Weak<Supervisor>,
    plugin: String,
    version: String,
    checksum: String,
) {
    let record = |state, metadata: Option<Value>, error: Option<String>| PluginMetadataRecord {
        plugin: plugin.clone(),
        version: version.clone(),
        checksum: checksum.clone(),
        state,
        metadata,
        error,
        updated_at: crate::store::Timestamp::now(),
    };
    match store.plugin_metadata_get(&plugin).await {
        Ok(Some(cached)) if cached.checksum != checksum || cached.version != version => {
            if let Err(error) = store
                .plugin_metadata_put(record(MetadataState::Stale, None, None))
                .await
            {
                tracing::warn!(%error, plugin = %plugin, "caching the plugin's metadata failed");
            }
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, plugin = %plugin, "reading the plugin's cached metadata failed")
        }
    }
    let Some(mut state) = supervisor
        .upgrade()
        .and_then(|supervisor| supervisor.watch_state(0))
    else {
        return;
    };
    loop {
        let now = state.borrow_and_update().clone();
        let update = match now {
            InstanceState::Ready => {
                let Some(supervisor) = supervisor.upgrade() else {
                    return;
                };
                supervisor.metadata().map(|metadata| {
                    record(
                        MetadataState::Fresh,
                        serde_json::to_value(metadata).ok(),
                        None,
                    )
                })
            }
            InstanceState::Failed(reason) => Some(record(MetadataState::Error, None, Some(reason))),
            _ => None,
        };
        if let Some(update) = update {
            if let Err(error) = store.plugin_metadata_put(update).await {
                tracing::warn!(%error, plugin = %plugin, "caching the plugin's metadata failed");
            }
        }
        // A stopped supervisor (replaced, unloaded) says nothing more worth caching; ending
        // here also lets it be dropped.
        if state.changed().await.is_err()
            || supervisor
                .upgrade()
                .is_none_or(|supervisor| supervisor.is_stopping())
        {
            return;
        }
    }
}
