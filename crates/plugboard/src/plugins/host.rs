//! The plugins this node runs, the host services they call, and the `plugin.run` job kind that
//! hands a job to a warm plugin process.
//!
//! Host services: `log` and `progress` notifications tied to a `run` (by its request id) become
//! the job's log lines and progress; `kv/*` reads and writes the store, scoped to the plugin and
//! the tenant; `emit` records an event. Log lines go through one bounded queue per plugin and
//! are written in order, in batches; a plugin that floods it loses lines (counted in a note),
//! never the host's memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::error::{HOST_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND};
use plugboard_protocol::methods::{
    self, ConfigInfo, JobInfo, KvGetResult, RunParams, RunResult, Trigger, TriggerKind,
};
use plugboard_protocol::ErrorObject;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::process::PluginPaths;
use super::rpc::{HostServices, RpcError};
use super::supervisor::InstanceState;
use super::supervisor::{Supervisor, SupervisorConfig};
use crate::queue::{JobContext, JobError, JobHandler, StopReason};
use crate::store::{
    ConfigFilter, JobId, JobOutput, KvQuery, KvScope, LogLevel, MetadataState, NewEvent,
    NewLogLine, PluginMetadataRecord, PluginState, Store,
};

/// The job kind that runs a plugin.
pub const PLUGIN_RUN: &str = "plugin.run";

/// Log lines waiting to be written, per plugin; beyond, lines are dropped and counted.
const LOG_QUEUE: usize = 10_000;
/// Bytes of log lines waiting to be written, per plugin; beyond, lines are dropped and counted.
const LOG_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// The longest log line kept; the rest of a longer one is cut with a note.
const MAX_LOG_MESSAGE_BYTES: usize = 64 * 1024;
/// Log lines not tied to a run go to the host's own log, at most this many per second per
/// plugin; the rest are counted and the count logged.
const UNTIED_LOG_LINES_PER_SECOND: u32 = 100;
const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// A `kv/list` page ends once its values reach this many bytes (it holds one value more at
/// most): the answer the host builds for one request stays near this size, well under what the
/// connection queues for a plugin.
const KV_LIST_PAGE_BYTES: usize = 4 * 1024 * 1024;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
    store: Arc<dyn Store>,
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

    fn services(&self, id: &str) -> Option<Arc<PluginServices>> {
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

/// The host services one plugin calls.
pub struct PluginServices {
    plugin: String,
    store: Arc<dyn Store>,
    /// Which job (and its tenant) each in-flight request made for a job belongs to.
    runs: Mutex<HashMap<i64, (JobId, Option<String>)>>,
    logs: mpsc::Sender<Written>,
    /// Bytes of the log lines in `logs`, bounded by [`LOG_QUEUE_BYTES`].
    queued_bytes: Arc<AtomicUsize>,
    dropped_logs: AtomicU64,
    /// Lines not tied to a run: the start of the current one-second window, lines logged in it,
    /// lines dropped in it.
    untied: Mutex<(std::time::Instant, u32, u64)>,
}

impl PluginServices {
    pub(super) fn start(plugin: String, store: Arc<dyn Store>) -> Arc<PluginServices> {
        let (logs, queue) = mpsc::channel(LOG_QUEUE);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let services = Arc::new(PluginServices {
            plugin,
            store: store.clone(),
            runs: Mutex::new(HashMap::new()),
            logs,
            queued_bytes: queued_bytes.clone(),
            dropped_logs: AtomicU64::new(0),
            untied: Mutex::new((std::time::Instant::now(), 0, 0)),
        });
        tokio::spawn(write_logs(store, queue, queued_bytes));
        services
    }

    /// Queues a log line of a run, unless the queue is full (in lines or bytes): then the line is
    /// counted, and the count noted in the job's log when the run ends.
    fn queue_line(&self, job: JobId, line: NewLogLine) {
        let bytes = line.message.len();
        let queued = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if queued > LOG_QUEUE_BYTES || self.logs.try_send(Written::Line(job, line)).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.dropped_logs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Logs a line not tied to a run in the host's log, at most
    /// [`UNTIED_LOG_LINES_PER_SECOND`] a second.
    fn log_untied(&self, level: LogLevel, message: &str) {
        let dropped_before = {
            let mut window = lock(&self.untied);
            if window.0.elapsed() >= Duration::from_secs(1) {
                let dropped = window.2;
                *window = (std::time::Instant::now(), 0, 0);
                dropped
            } else {
                0
            }
        };
        if dropped_before > 0 {
            tracing::warn!(plugin = %self.plugin, dropped = dropped_before, "log lines not tied to a run were dropped: more than {UNTIED_LOG_LINES_PER_SECOND} a second");
        }
        {
            let mut window = lock(&self.untied);
            if window.1 >= UNTIED_LOG_LINES_PER_SECOND {
                window.2 += 1;
                return;
            }
            window.1 += 1;
        }
        match level {
            LogLevel::Error => tracing::error!(plugin = %self.plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin = %self.plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin = %self.plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin = %self.plugin, "{message}"),
        }
    }

    /// Waits until everything the plugin sent for its runs so far is stored, so that a job is
    /// never finished before its last log line is readable. Notes lost lines in the job's log.
    async fn flush(&self, job: JobId) {
        let dropped = self.dropped_logs.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = format!("[plugboard] {dropped} log lines of plugin {} were dropped: it wrote them faster than they could be stored", self.plugin);
            self.queued_bytes.fetch_add(note.len(), Ordering::AcqRel);
            let _ = self
                .logs
                .send(Written::Line(
                    job,
                    NewLogLine {
                        level: LogLevel::Warn,
                        message: note,
                    },
                ))
                .await;
        }
        let (answer, written) = tokio::sync::oneshot::channel();
        if self.logs.send(Written::Flush(answer)).await.is_ok() {
            let _ = written.await;
        }
    }

    fn job_of(&self, params: &Value) -> Option<JobId> {
        let id = params.get("requestId")?.as_i64()?;
        lock(&self.runs).get(&id).map(|(job, _)| *job)
    }

    fn scope(&self, params: &Value) -> Result<(KvScope, String), ErrorObject> {
        let tenant = params
            .get("tenant")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = params.get("key").and_then(Value::as_str).ok_or_else(|| {
            ErrorObject::new(INVALID_PARAMS, "`key` is required and must be a string")
        })?;
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(ErrorObject::new(
                INVALID_PARAMS,
                format!("a key must be 1 to {MAX_KEY_BYTES} bytes"),
            ));
        }
        Ok((
            KvScope {
                plugin: self.plugin.clone(),
                tenant,
            },
            key.to_owned(),
        ))
    }
}

fn host_error(error: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::new(HOST_ERROR, format!("the host could not do that: {error}"))
}

#[async_trait]
impl HostServices for PluginServices {
    async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ErrorObject> {
        let params = params.unwrap_or(Value::Null);
        match method {
            methods::KV_GET => {
                let (scope, key) = self.scope(&params)?;
                let value = self.store.kv_get(&scope, &key).await.map_err(host_error)?;
                Ok(json!(KvGetResult { value }))
            }
            methods::KV_SET => {
                let (scope, key) = self.scope(&params)?;
                let value = params
                    .get("value")
                    .cloned()
                    .ok_or_else(|| ErrorObject::new(INVALID_PARAMS, "`value` is required"))?;
                if value.to_string().len() > MAX_VALUE_BYTES {
                    return Err(ErrorObject::new(
                        INVALID_PARAMS,
                        "a value must be at most 1 MiB of JSON",
                    ));
                }
                self.store
                    .kv_set(&scope, &key, value)
                    .await
                    .map_err(host_error)?;
                Ok(json!({}))
            }
            methods::KV_DELETE => {
                let (scope, key) = self.scope(&params)?;
                let deleted = self
                    .store
                    .kv_delete(&scope, &key)
                    .await
                    .map_err(host_error)?;
                Ok(json!({"deleted": deleted}))
            }
            methods::KV_LIST => {
                let list: methods::KvListParams = serde_json::from_value(params)
                    .map_err(|error| ErrorObject::new(INVALID_PARAMS, error.to_string()))?;
                let scope = KvScope {
                    plugin: self.plugin.clone(),
                    tenant: list.tenant,
                };
                let limit = list.limit.unwrap_or(1000).clamp(1, 1000) as usize;
                let query = KvQuery {
                    prefix: &list.prefix,
                    after: list.cursor.as_deref(),
                    limit,
                    max_bytes: KV_LIST_PAGE_BYTES,
                };
                let items = self
                    .store
                    .kv_list(&scope, &query)
                    .await
                    .map_err(host_error)?;
                // A page the byte budget ended early says so with a cursor too: asked whether
                // one more value follows.
                let last = items.last().map(|(key, _)| key.clone());
                let more = items.len() == limit
                    || match &last {
                        Some(last) => !self
                            .store
                            .kv_list(
                                &scope,
                                &KvQuery {
                                    after: Some(last),
                                    limit: 1,
                                    max_bytes: 1,
                                    ..query
                                },
                            )
                            .await
                            .map_err(host_error)?
                            .is_empty(),
                        None => false,
                    };
                let next_cursor = if more { last } else { None };
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|(key, value)| json!({"key": key, "value": value}))
                    .collect();
                Ok(json!({"items": items, "nextCursor": next_cursor}))
            }
            methods::EMIT => {
                let emit: methods::EmitParams = serde_json::from_value(params)
                    .map_err(|error| ErrorObject::new(INVALID_PARAMS, error.to_string()))?;
                // A plugin raises events for the tenants it serves: those with a config of it.
                let serves = self
                    .store
                    .config_list(ConfigFilter {
                        tenant: Some(emit.tenant.clone()),
                        plugin: Some(self.plugin.clone()),
                        limit: 1,
                    })
                    .await
                    .map_err(host_error)?;
                if serves.is_empty() {
                    return Err(ErrorObject::new(
                        plugboard_protocol::error::PERMISSION_DENIED,
                        format!(
                            "emit needs a tenant this plugin serves; `{}` has no config of {}",
                            emit.tenant, self.plugin
                        ),
                    ));
                }
                let recorded = self
                    .store
                    .event_record(NewEvent {
                        tenant: emit.tenant,
                        event_type: emit.event_type,
                        payload: emit.payload,
                        idempotency_key: emit.idempotency_key,
                        source: Some(format!("plugin:{}", self.plugin)),
                    })
                    .await
                    .map_err(host_error)?;
                Ok(json!({"eventId": recorded.id.to_string()}))
            }
            other => Err(ErrorObject::new(
                METHOD_NOT_FOUND,
                format!("the host has no method `{other}`"),
            )),
        }
    }

    fn notification(&self, method: &str, params: Option<Value>) {
        let params = params.unwrap_or(Value::Null);
        match method {
            methods::LOG => {
                let message = cut(
                    params.get("message").and_then(Value::as_str).unwrap_or(""),
                    MAX_LOG_MESSAGE_BYTES,
                );
                let level = match params.get("level").and_then(Value::as_str) {
                    Some("debug") => LogLevel::Debug,
                    Some("warn") => LogLevel::Warn,
                    Some("error") => LogLevel::Error,
                    _ => LogLevel::Info,
                };
                match self.job_of(&params) {
                    Some(job) => self.queue_line(job, NewLogLine { level, message }),
                    None => self.log_untied(level, &message),
                }
            }
            methods::PROGRESS => {
                if let Some(job) = self.job_of(&params) {
                    let progress = json!({
                        "progress": params.get("progress"),
                        "total": params.get("total"),
                        "message": params.get("message"),
                    });
                    // Progress is a latest value: one dropped when the queue is full is replaced by
                    // the next.
                    let _ = self.logs.try_send(Written::Progress(job, progress));
                }
            }
            other => tracing::debug!(plugin = %self.plugin, method = other, "ignored notification"),
        }
    }

    fn stray_line(
        &self,
        line: &str,
        reason: &str,
        waiting: &[i64],
        served: &std::collections::HashSet<Option<String>>,
    ) {
        // Only while a single request is in flight may the line be that job's.
        let [request] = waiting else { return };
        let Some((job, tenant)) = lock(&self.runs).get(request).cloned() else {
            return;
        };
        if !may_see_output(tenant.as_deref(), served) {
            return;
        }
        self.queue_line(
            job,
            NewLogLine {
                level: LogLevel::Warn,
                message: format!(
                    "[plugboard] the plugin wrote a line on stdout that is not a message ({reason}): {line:?}; stdout carries protocol messages only, one per line: write debug output to stderr or send it with `log`"
                ),
            },
        );
    }
}

/// Whether the readers of a job of `tenant` may see what a plugin process wrote that served
/// the tenants `served` since it started: a tenant's job gets it only when the process served
/// that tenant alone (its text may otherwise concern another tenant, even one served before this
/// job); a job of no tenant is read by global tokens only, which see every tenant anyway.
fn may_see_output(
    tenant: Option<&str>,
    served: &std::collections::HashSet<Option<String>>,
) -> bool {
    match tenant {
        None => true,
        Some(tenant) => served.len() == 1 && served.contains(&Some(tenant.to_owned())),
    }
}

/// `text`, cut to at most `max` bytes (at a character boundary) with a note of what was cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} [plugboard: {} more bytes of this line were cut]",
        &text[..end],
        text.len() - end
    )
}

/// What a plugin's runs send to be stored, in the order the plugin sent it.
enum Written {
    Line(JobId, NewLogLine),
    Progress(JobId, Value),
    /// Answered once everything queued before it is stored.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Writes plugins' log lines and progress in order, in batches: each batch appends each job's
/// lines in one call and keeps only each job's latest progress.
async fn write_logs(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Written>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let mut batch: Vec<Written> = Vec::new();
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < 1000 {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut outputs: Vec<JobOutput> = Vec::new();
        let mut flushes = Vec::new();
        for item in batch.drain(..) {
            let (job_id, line, progress) = match item {
                Written::Flush(answer) => {
                    flushes.push(answer);
                    continue;
                }
                Written::Line(job, line) => {
                    queued_bytes.fetch_sub(line.message.len(), Ordering::AcqRel);
                    (job, Some(line), None)
                }
                Written::Progress(job, progress) => (job, None, Some(progress)),
            };
            let index = match outputs.iter().position(|output| output.job_id == job_id) {
                Some(index) => index,
                None => {
                    outputs.push(JobOutput {
                        job_id,
                        lines: Vec::new(),
                        progress: None,
                    });
                    outputs.len() - 1
                }
            };
            let output = &mut outputs[index];
            output.lines.extend(line);
            // Progress is a latest value: only each job's last one is written.
            if progress.is_some() {
                output.progress = progress;
            }
        }
        // One store call for the batch: one SQLite transaction, each job's lines in order.
        if !outputs.is_empty() {
            match store.job_output_write(outputs).await {
                Ok(gone) if gone.is_empty() => {}
                Ok(gone) => tracing::debug!(
                    jobs = ?gone,
                    "plugin output for jobs that no longer exist was dropped"
                ),
                Err(error) => {
                    tracing::warn!(%error, "writing plugins' log lines and progress failed")
                }
            }
        }
        for answer in flushes {
            let _ = answer.send(());
        }
    }
}

/// Why a plugin.run job cannot run on this node, as the registry sees it: a plugin that is not
/// installed, disabled or failed fails at once with what to do; one that is meant to run (installed
/// and enabled, or being installed, perhaps starting here or loaded by another node) is retried.
async fn not_loaded(host: &PluginHost, plugin: &str, worker: &str) -> JobError {
    let here = match host.ids() {
        ids if ids.is_empty() => "it runs no plugins".to_owned(),
        ids => format!("it runs: {}", ids.join(", ")),
    };
    match host.store.plugin_get(plugin).await {
        Ok(None) => JobError::permanent(format!(
            "plugin `{plugin}` is not installed ({here} on worker {worker}); install it with `plugboard plugin install`, or name its folder with `serve --plugin DIR`"
        )),
        Ok(Some(installed)) => match installed.state {
            PluginState::Disabled => JobError::permanent(format!(
                "plugin `{plugin}` is disabled; enable it with `plugboard plugin enable {plugin}`"
            )),
            PluginState::Failed => JobError::permanent(format!(
                "plugin `{plugin}` has failed: {}; fix it and enable it again",
                installed.error.as_deref().unwrap_or("no reason recorded")
            )),
            PluginState::Enabled | PluginState::Installing => JobError::retryable(format!(
                "plugin `{plugin}` is not running on worker {worker} yet ({here})"
            )),
        },
        Err(error) => JobError::retryable(format!(
            "plugin `{plugin}` is not loaded on worker {worker} and the registry could not be read: {error}"
        )),
    }
}

/// The payload of a `plugin.run` job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginRunPayload {
    plugin: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    config: Option<ConfigInfo>,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default)]
    payload: Value,
}

/// The `plugin.run` job kind: a job handed to a warm process of its plugin.
pub struct PluginRun {
    host: Option<Arc<PluginHost>>,
}

impl PluginRun {
    /// The kind as a worker runs it.
    pub fn new(host: Arc<PluginHost>) -> PluginRun {
        PluginRun { host: Some(host) }
    }

    /// The kind as an enqueuer checks it (no plugins loaded in this process).
    pub fn for_validation() -> PluginRun {
        PluginRun { host: None }
    }
}

/// Forgets a run's request id, and replaces the instance when the run was abandoned without an
/// answer (a timeout, or a cancel the plugin ignored): a process stuck in a job is not trusted
/// with the next one.
struct RunGuard {
    services: Arc<PluginServices>,
    supervisor: Arc<Supervisor>,
    rpc: super::rpc::RpcClient,
    request: i64,
    pid: i32,
    answered: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        lock(&self.services.runs).remove(&self.request);
        if !self.answered {
            self.rpc.abandon(self.request);
            tracing::warn!(
                pid = self.pid,
                "a plugin run was abandoned without an answer; replacing the instance"
            );
            self.supervisor.replace(self.pid);
        }
    }
}

#[async_trait]
impl JobHandler for PluginRun {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        serde_json::from_value::<PluginRunPayload>(payload.clone())
            .map(|_| ())
            .map_err(|error| format!("{error}; a plugin.run payload is {{\"plugin\": ID, \"tenant\"?, \"config\"?, \"trigger\"?, \"payload\"?}}"))
    }

    fn prepare(&self, job: &mut crate::store::NewJob) {
        if let Ok(request) = serde_json::from_value::<PluginRunPayload>(job.payload.clone()) {
            job.plugin.get_or_insert(request.plugin);
            if let Some(tenant) = request.tenant {
                job.tenant.get_or_insert(tenant);
            }
        }
    }

    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let job = context.job().clone();
        let request: PluginRunPayload = serde_json::from_value(job.payload.clone())
            .map_err(|error| JobError::permanent(format!("invalid plugin.run payload: {error}")))?;
        let host = self
            .host
            .as_ref()
            .ok_or_else(|| JobError::permanent("this process runs no plugins"))?;
        let plugin = request.plugin.clone();
        let outcome = request_for_job(host, &plugin, &context, methods::RUN, |deadline| {
            RunParams {
                job: JobInfo {
                    id: job.id.0,
                    attempt: job.attempt,
                    max_attempts: job.max_attempts,
                    deadline,
                },
                trigger: request.trigger.unwrap_or(Trigger {
                    kind: TriggerKind::Manual,
                    event: None,
                    fire_time: None,
                }),
                tenant: request.tenant,
                config: request.config,
                payload: request.payload,
            }
        })
        .await?;
        match outcome {
            Ok(Ok(result)) => {
                let run: RunResult = serde_json::from_value(result.clone()).unwrap_or(RunResult {
                    result: Some(result),
                });
                Ok(run.result)
            }
            Ok(Err(RpcError::Remote(error))) if error.is_retryable() => {
                Err(JobError::retryable(error.message))
            }
            Ok(Err(RpcError::Remote(error))) => Err(JobError::permanent(error.message)),
            Ok(Err(error)) => Err(JobError::retryable(format!("plugin `{plugin}`: {error}"))),
            Err(_) => Err(JobError::retryable(format!(
                "plugin `{plugin}`: the connection ended"
            ))),
        }
    }
}

/// Why a request of job `job` got no answer when the connection closed under it: the process
/// ended (its exit status and last stderr lines go into the job's log and error), or it closed
/// its stdout.
async fn explain_exit(
    supervisor: &Supervisor,
    services: &PluginServices,
    (job, tenant): (JobId, Option<&str>),
    ready: &super::supervisor::ReadyInstance,
    method: &str,
    reason: String,
) -> RpcError {
    let pid = ready.pid;
    let Some(mut exit) = supervisor.exit_of(pid, Duration::from_secs(2)).await else {
        return RpcError::Closed(reason);
    };
    // Its stderr may speak of the other tenants it served: kept in the host's log then.
    let shared = !may_see_output(tenant, &ready.rpc.served());
    if shared {
        let mut alone = (*exit).clone();
        alone.stderr_tail.clear();
        exit = std::sync::Arc::new(alone);
    }
    let line = |level, message: String| NewLogLine { level, message };
    services.queue_line(
        job,
        line(
            LogLevel::Error,
            format!(
                "[plugboard] the plugin's process (pid {pid}) ended during `{method}` ({}){}",
                exit.status,
                if shared {
                    "; it served other tenants too, so its last stderr lines are in the host's log only"
                } else if exit.stderr_tail.is_empty() {
                    "; it wrote nothing on stderr"
                } else {
                    "; its last stderr lines follow"
                }
            ),
        ),
    );
    for stderr in &exit.stderr_tail {
        services.queue_line(job, line(LogLevel::Error, format!("[stderr] {stderr}")));
    }
    let described = exit.describe(&format!("its process ended during `{method}`"));
    RpcError::Exited(if shared {
        described.replace(
            "and wrote nothing on stderr",
            "having served other tenants too; its last stderr lines are in the host's log",
        )
    } else {
        described
    })
}

/// What a plugin answered a request made for a job: its answer or error (`Ok`), or the
/// connection ended before it answered (`Err`).
pub(super) type JobAnswer = Result<Result<Value, RpcError>, tokio::sync::oneshot::error::RecvError>;

/// Sends `method` to a ready instance of `plugin` on behalf of the job of `context`, and waits
/// for the answer: the plugin's `log` and `progress` for this request become the job's, a cancel
/// of the job (or its timeout) is relayed as `cancel`, and an instance abandoned without an
/// answer is replaced. `params` builds the request's params from the job's deadline (RFC 3339,
/// absent without a timeout). The job's last log lines are stored before this returns.
///
/// # Errors
/// A [`JobError`] when the plugin is not loaded here (retryable or not, by the registry), has
/// failed, or the job was cancelled before an instance was ready.
pub(super) async fn request_for_job<P: serde::Serialize>(
    host: &PluginHost,
    plugin: &str,
    context: &JobContext,
    method: &str,
    params: impl FnOnce(Option<String>) -> P,
) -> Result<JobAnswer, JobError> {
    let job = context.job();
    let (Some(supervisor), Some(services)) = (host.supervisor(plugin), host.services(plugin))
    else {
        return Err(not_loaded(host, plugin, context.worker()).await);
    };
    // Wait for a ready instance with room; the job's timeout bounds the wait.
    let ready = loop {
        if let Some(ready) = supervisor.pick() {
            break ready;
        }
        if let Some(reason) = supervisor.failure() {
            return Err(JobError::retryable(format!(
                "plugin `{plugin}` has failed: {reason}"
            )));
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = context.cancelled() => return Err(JobError::permanent("cancelled while waiting for the plugin")),
        }
    };
    // Before the guard: nothing here may fail once a request id is registered. A timeout
    // too far ahead to write as a date (past the year 9999) sends no deadline.
    let deadline = job.timeout_ms.and_then(|ms| {
        let at = std::time::SystemTime::now()
            .checked_add(Duration::from_millis(u64::try_from(ms).ok()?))?;
        let latest = std::time::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        (at <= latest).then(|| humantime::format_rfc3339_millis(at).to_string())
    });
    let params = params(deadline);
    let request_id = ready.rpc.reserve_id();
    lock(&services.runs).insert(request_id, (job.id, job.tenant.clone()));
    let mut guard = RunGuard {
        services: services.clone(),
        supervisor: supervisor.clone(),
        rpc: ready.rpc.clone(),
        request: request_id,
        pid: ready.pid,
        answered: false,
    };
    let answer = ready
        .rpc
        .send_request_as(request_id, method, &params)
        .map_err(|error| JobError::retryable(error.to_string()))?;
    tokio::pin!(answer);
    let mut cancel_sent = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut answer => break outcome,
            () = context.cancelled(), if !cancel_sent => {
                let reason = match context.stop_reason() {
                    Some(StopReason::TimedOut) => "the job ran past its timeout",
                    _ => "the job was cancelled",
                };
                ready.rpc.notify(methods::CANCEL, json!({"requestId": request_id, "reason": reason}));
                cancel_sent = true;
            }
        }
    };
    guard.answered = true;
    let outcome = match outcome {
        Ok(Err(RpcError::Closed(reason))) => Ok(Err(explain_exit(
            &supervisor,
            &services,
            (job.id, job.tenant.as_deref()),
            &ready,
            method,
            reason,
        )
        .await)),
        Err(_) => Ok(Err(explain_exit(
            &supervisor,
            &services,
            (job.id, job.tenant.as_deref()),
            &ready,
            method,
            "the connection ended".to_owned(),
        )
        .await)),
        outcome => outcome,
    };
    // Bounded: a slow store must not turn a finished run into a timed-out one.
    if tokio::time::timeout(Duration::from_secs(5), services.flush(job.id))
        .await
        .is_err()
    {
        tracing::warn!(job = %job.id, "the plugin's last log lines are still being written");
    }
    Ok(outcome)
}

#[cfg(test)]
mod stray_tests {
    use super::*;
    use crate::store::testing::TestStore;

    #[tokio::test]
    async fn a_stray_line_reaches_a_tenants_job_only_from_a_process_that_served_that_tenant_alone()
    {
        let test = TestStore::sqlite().await;
        let store = test.store.clone();
        let mut ids = Vec::new();
        for tenant in ["alpha", "beta"] {
            let mut job = crate::store::NewJob::new("noop", json!({}));
            job.tenant = Some(tenant.to_owned());
            ids.push(store.job_enqueue(job).await.unwrap().id);
        }
        let (alpha, beta) = (ids[0], ids[1]);
        let services = PluginServices::start("p".to_owned(), store.clone());
        lock(&services.runs).insert(1, (alpha, Some("alpha".to_owned())));
        lock(&services.runs).insert(2, (beta, Some("beta".to_owned())));
        let served = |tenants: &[&str]| -> std::collections::HashSet<Option<String>> {
            tenants
                .iter()
                .map(|tenant| Some((*tenant).to_owned()))
                .collect()
        };
        // Two requests in flight: the line may be either job's; neither gets it.
        services.stray_line(
            "secret of one tenant",
            "not JSON",
            &[1, 2],
            &served(&["alpha", "beta"]),
        );
        // Beta's run alone in flight, in a process that served alpha before: a late line of
        // alpha's run (written after its answer) must not reach beta's log.
        services.stray_line(
            "alpha's late secret",
            "not JSON",
            &[2],
            &served(&["alpha", "beta"]),
        );
        services.flush(beta).await;
        assert!(store.log_list(alpha, 0, 10).await.unwrap().is_empty());
        assert!(store.log_list(beta, 0, 10).await.unwrap().is_empty());
        // A process that served beta alone: beta's log says it.
        services.stray_line("debug: x=1", "not JSON", &[2], &served(&["beta"]));
        services.flush(beta).await;
        let lines = store.log_list(beta, 0, 10).await.unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].message.contains("\"debug: x=1\""), "{lines:?}");
        assert!(store.log_list(alpha, 0, 10).await.unwrap().is_empty());
        test.finish().await;
    }

    #[tokio::test]
    async fn emit_is_refused_for_a_tenant_the_plugin_does_not_serve() {
        let test = TestStore::sqlite().await;
        let store = test.store.clone();
        let services = PluginServices::start("p".to_owned(), store.clone());
        let emit = json!({"tenant": "globex", "type": "p.happened", "payload": null});
        let refused = services
            .request(methods::EMIT, Some(emit.clone()))
            .await
            .expect_err("globex has no config of p");
        assert_eq!(refused.code, plugboard_protocol::error::PERMISSION_DENIED);
        assert!(
            refused.message.contains("`globex` has no config of p"),
            "{refused:?}"
        );
        assert!(store
            .event_list(crate::store::EventFilter::default())
            .await
            .unwrap()
            .is_empty());
        test.finish().await;
    }
}
