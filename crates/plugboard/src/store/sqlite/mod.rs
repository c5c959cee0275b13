//! The SQLite store: one file, WAL journal, one writer thread per process, a small pool of
//! reading connections.
//!
//! Writes from every task go to the writer thread, which commits them in groups (see
//! `writer.rs`); reads run on their own connections in the blocking pool, so a long listing never
//! holds up a claim. Several processes may open the same file (the benchmark and the tests do):
//! SQLite serialises their write transactions with `BEGIN IMMEDIATE` and a busy timeout.
//!
//! Durability: with `synchronous = NORMAL` (the default) an acknowledged write survives a crash
//! of the process; a power loss or kernel crash may lose the last transactions before the WAL is
//! synced. `synchronous = FULL` syncs every commit and survives both, at several times the cost
//! per commit.
//!
//! Limits: notices reach other processes only as "something changed" wake-ups (inotify on the
//! WAL file), never as precise notices; the clock is the host's.

mod jobs;
mod kv;
mod limits;
mod logs;
mod migrations;
mod nodes;
mod plugins;
mod tenants;
mod tokens;
mod watch;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::broadcast;

use super::{
    ApiToken, InstalledPlugin, LockOutcome, NewApiToken, PackageInfo, PackageRecord,
    PluginMetadataRecord, PluginRemoval,
};
use super::{
    Backend, CancelOutcome, ClaimParams, Enqueued, EventRecorded, HeartbeatOutcome,
    HeartbeatParams, Job, JobCount, JobFilter, JobFinish, JobId, JobOutput, JobStatus, KvQuery,
    KvScope, LogLine, NewEvent, NewJob, NewLogLine, PruneParams, Store, StoreError, StoreNotice,
};
use super::{ChangeCursor, ChangeFilter, JobChange};
use super::{
    Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, EventRecord, FireOutcome, Tenant,
    Timestamp,
};
use super::{JobKindCount, MinuteCounts, NewNode, Node, UnfinishedCounts};
use super::{JobLimit, LimitScope, LimitUsage};
use writer::Writer;

/// How SQLite syncs commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a crash of the process; may lose the newest commits on power loss.
    #[default]
    Normal,
    /// Survives power loss too; every commit waits for the disk.
    Full,
}

impl std::str::FromStr for Synchronous {
    type Err = String;

    fn from_str(text: &str) -> Result<Synchronous, String> {
        match text {
            "normal" => Ok(Synchronous::Normal),
            "full" => Ok(Synchronous::Full),
            other => Err(format!(
                "unknown SQLite synchronous mode `{other}`; use normal or full"
            )),
        }
    }
}

/// How to open an SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub synchronous: Synchronous,
}

/// Reading connections kept open, and reads run at once on the blocking pool.
const READERS: usize = 8;

/// A store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    synchronous: Synchronous,
    writer: Mutex<Option<Writer>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Reads on the blocking pool at once: a burst of readers (a thousand streams opening) waits
    /// here instead of taking a thread and a connection each.
    read_slots: Arc<tokio::sync::Semaphore>,
    notices: broadcast::Sender<StoreNotice>,
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Per queue, the tenant the last claim served: the next claim starts after it.
    claim_after: Mutex<HashMap<String, String>>,
    /// Whether the last claim saw limits; finishes then wake claimers.
    limited: AtomicBool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file, applies migrations and starts the writer.
    /// Must be called inside a Tokio runtime (the cross-process watcher is a task).
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be created or opened (a missing or read-only
    /// directory, a file that is not a database), [`StoreError::Migration`] or
    /// [`StoreError::TooNew`] when its schema cannot be brought to this version.
    pub async fn open(options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = options.path.clone();
        let synchronous = options.synchronous;
        let connection = tokio::task::spawn_blocking(move || {
            restrict_to_owner(&path).map_err(|reason| StoreError::Open {
                path: path.display().to_string(),
                reason,
            })?;
            let connection = open_connection(&path, synchronous)?;
            migrations::apply(&connection)?;
            Ok::<_, StoreError>(connection)
        })
        .await
        .map_err(|error| StoreError::Open {
            path: options.path.display().to_string(),
            reason: error.to_string(),
        })??;
        let (writer, writer_thread) =
            Writer::start(connection).map_err(|reason| StoreError::Open {
                path: options.path.display().to_string(),
                reason,
            })?;
        let (notices, _) = broadcast::channel(1024);
        let watcher = watch::start(&options.path, notices.clone());
        Ok(SqliteStore {
            path: options.path,
            synchronous,
            writer: Mutex::new(Some(writer)),
            writer_thread: Mutex::new(Some(writer_thread)),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_slots: Arc::new(tokio::sync::Semaphore::new(READERS)),
            notices,
            watcher: Mutex::new(watcher),
            claim_after: Mutex::new(HashMap::new()),
            limited: AtomicBool::new(false),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> Result<Writer, StoreError> {
        lock(&self.writer).clone().ok_or(StoreError::Closed)
    }

    async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer()?.call(op).await
    }

    /// Runs `op` on a reading connection in the blocking pool.
    async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        if lock(&self.writer).is_none() {
            return Err(StoreError::Closed);
        }
        // Held by the blocking read itself: a caller that gives up waiting does not free the
        // slot before the read is done.
        let slot = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pooled = lock(&self.readers).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => open_connection(&self.path, self.synchronous)?,
        };
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = op(&connection);
            // Back in the pool before the slot is free, so the next read finds it there.
            let mut readers = lock(&readers);
            if readers.len() < READERS {
                readers.push(connection);
            }
            drop(readers);
            drop(slot);
            outcome
        })
        .await
        .map_err(|error| StoreError::Backend {
            op: "read",
            message: error.to_string(),
        })?
    }

    /// Runs a point lookup (one indexed row) on a reading connection on the calling thread. In
    /// WAL mode a reader never waits for the writer, and a lookup takes microseconds: less than
    /// the hand-off to the blocking pool that [`SqliteStore::read`] pays.
    fn read_now<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if lock(&self.writer).is_none() {
            return Err(StoreError::Closed);
        }
        let pooled = lock(&self.readers).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => open_connection(&self.path, self.synchronous)?,
        };
        let outcome = op(&connection);
        let mut readers = lock(&self.readers);
        if readers.len() < READERS {
            readers.push(connection);
        }
        outcome
    }

    fn announce(&self, notice: StoreNotice) {
        // No subscriber is fine: notices are hints.
        let _ = self.notices.send(notice);
    }
}

/// Locks a mutex, recovering from a poisoned one: the data behind these locks (a handle, a pool
/// of connections) stays valid even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates the database file readable and writable by its owner only, or closes an existing one
/// to others: it holds job payloads and results. SQLite gives its `-wal` and `-shm` files the
/// database file's mode.
fn restrict_to_owner(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        // A missing folder and the like: opening it says so in its own words.
        Err(_) => return Ok(()),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            let mode = meta.permissions().mode() & 0o700;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).map_err(
                |error| format!("cannot close {} to other users: {error}", file.display()),
            )?;
        }
    }
    Ok(())
}

fn open_connection(path: &Path, synchronous: Synchronous) -> Result<Connection, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        path: path.display().to_string(),
        reason,
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| open_error(explain_open_error(path, &error)))?;
    connection
        .busy_handler(Some(wait_while_busy))
        .map_err(|error| open_error(error.to_string()))?;
    let synchronous = match synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -16000;"
        ))
        .map_err(|error| open_error(explain_open_error(path, &error)))?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// Waits while another process holds the write lock: 50 µs steps for the first 5 ms, then 1 ms
/// steps, for 10 s in all. SQLite's own busy timeout sleeps 1 ms and more from the first retry,
/// which would put a millisecond on every claim that meets another process's commit.
fn wait_while_busy(retries: i32) -> bool {
    const SHORT_STEPS: i32 = 100;
    const LONG_STEPS: i32 = 9_995;
    if retries < SHORT_STEPS {
        std::thread::sleep(Duration::from_micros(50));
        true
    } else if retries < SHORT_STEPS + LONG_STEPS {
        std::thread::sleep(Duration::from_millis(1));
        true
    } else {
        false
    }
}

fn explain_open_error(path: &Path, error: &rusqlite::Error) -> String {
    let directory = path
        .parent()
        .map(|parent| parent.display().to_string())
        .unwrap_or_else(|| ".".to_owned());
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::CannotOpen) | Some(rusqlite::ErrorCode::ReadOnly) => format!(
            "{error}; check that the directory {directory} exists and is writable by this user, or choose another --data-dir"
        ),
        Some(rusqlite::ErrorCode::NotADatabase) => format!(
            "{error}; the file is not an SQLite database: move it away or choose another --data-dir"
        ),
        _ => error.to_string(),
    }
}

fn backend_error(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| StoreError::Backend {
        op,
        message: error.to_string(),
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|connection| {
            connection
                .query_row("SELECT 1", [], |_| Ok(()))
                .map_err(backend_error("ping"))
        })
        .await
    }

    async fn server_version(&self) -> Result<String, StoreError> {
        Ok(format!("sqlite {}", rusqlite::version()))
    }

    async fn job_enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let queue = job.queue.clone();
        let enqueued = self
            .write(move |connection| {
                let change = jobs::next_change(connection)?;
                jobs::enqueue(connection, &job, change)
            })
            .await?;
        if enqueued.created {
            self.announce(StoreNotice::JobsAvailable { queue: Some(queue) });
        }
        Ok(enqueued)
    }

    async fn job_enqueue_many(&self, new_jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError> {
        let mut queues: Vec<String> = new_jobs.iter().map(|job| job.queue.clone()).collect();
        queues.sort();
        queues.dedup();
        let enqueued = self
            .write(move |connection| {
                let change = jobs::next_change(connection)?;
                new_jobs
                    .iter()
                    .map(|job| jobs::enqueue(connection, job, change))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        for queue in queues {
            self.announce(StoreNotice::JobsAvailable { queue: Some(queue) });
        }
        Ok(enqueued)
    }

    async fn job_get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.read(move |connection| jobs::get(connection, id)).await
    }

    async fn job_list(&self, filter: JobFilter) -> Result<Vec<Job>, StoreError> {
        self.read(move |connection| jobs::list(connection, &filter))
            .await
    }

    async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        self.read(jobs::counts).await
    }

    async fn job_counts_unfinished(&self) -> Result<UnfinishedCounts, StoreError> {
        self.read(jobs::counts_unfinished).await
    }

    async fn job_claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let queue = params.queue.clone();
        let after = lock(&self.claim_after)
            .get(&queue)
            .cloned()
            .unwrap_or_default();
        let claimed = self
            .write(move |connection| jobs::claim(connection, &params, &after))
            .await?;
        self.limited.store(claimed.limited, Ordering::Relaxed);
        if !claimed.jobs.is_empty() {
            self.announce(StoreNotice::JobsChanged);
        }
        if let Some(tenant) = claimed.last_tenant {
            lock(&self.claim_after).insert(queue, tenant);
        }
        Ok(claimed.jobs)
    }

    async fn job_heartbeat(&self, params: HeartbeatParams) -> Result<HeartbeatOutcome, StoreError> {
        self.write(move |connection| jobs::heartbeat(connection, &params))
            .await
    }

    async fn job_finish_many(&self, finishes: Vec<JobFinish>) -> Result<Vec<JobId>, StoreError> {
        let (applied, requeued) = self
            .write(move |connection| jobs::finish_many(connection, &finishes))
            .await?;
        if !applied.is_empty() {
            self.announce(StoreNotice::JobsChanged);
        }
        for queue in requeued {
            self.announce(StoreNotice::JobsAvailable { queue: Some(queue) });
        }
        // A finish may bring a tenant or plugin back under its limit.
        if !applied.is_empty() && self.limited.load(Ordering::Relaxed) {
            self.announce(StoreNotice::JobsAvailable { queue: None });
        }
        Ok(applied)
    }

    async fn job_release(&self, owner: &str, ids: &[JobId]) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        let ids = ids.to_vec();
        let released = self
            .write(move |connection| jobs::release(connection, &owner, &ids))
            .await?;
        if released > 0 {
            self.announce(StoreNotice::JobsAvailable { queue: None });
        }
        Ok(released)
    }

    async fn job_rescue(&self) -> Result<Vec<JobId>, StoreError> {
        let rescued = self.write(jobs::rescue).await?;
        if !rescued.is_empty() {
            self.announce(StoreNotice::JobsAvailable { queue: None });
        }
        Ok(rescued)
    }

    async fn job_cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError> {
        let outcome = self
            .write(move |connection| jobs::cancel(connection, id))
            .await?;
        match outcome {
            CancelOutcome::Requested => {
                self.announce(StoreNotice::CancelRequested { id });
                self.announce(StoreNotice::JobsChanged);
            }
            CancelOutcome::Cancelled => self.announce(StoreNotice::JobChanged {
                id,
                status: JobStatus::Cancelled,
            }),
            CancelOutcome::AlreadyFinished(_) | CancelOutcome::NotFound => {}
        }
        Ok(outcome)
    }

    async fn job_retry(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let job = self
            .write(move |connection| jobs::retry(connection, id))
            .await?;
        if let Some(job) = &job {
            if job.status == JobStatus::Queued {
                self.announce(StoreNotice::JobsAvailable {
                    queue: Some(job.queue.clone()),
                });
            }
        }
        Ok(job)
    }

    async fn job_progress(&self, id: JobId, progress: serde_json::Value) -> Result<(), StoreError> {
        self.write(move |connection| jobs::progress(connection, id, &progress))
            .await?;
        self.announce(StoreNotice::JobsChanged);
        Ok(())
    }

    async fn job_prune(&self, params: PruneParams) -> Result<u64, StoreError> {
        self.write(move |connection| jobs::prune(connection, &params))
            .await
    }

    async fn log_append(&self, job_id: JobId, lines: Vec<NewLogLine>) -> Result<i64, StoreError> {
        let seq = self
            .write(move |connection| logs::append(connection, job_id, &lines))
            .await?;
        self.announce(StoreNotice::LogAppended { job_id, seq });
        Ok(seq)
    }

    async fn job_output_write(&self, outputs: Vec<JobOutput>) -> Result<Vec<JobId>, StoreError> {
        // One writer operation for the whole batch: one hop to the writer thread, one savepoint.
        let written = self
            .write(move |connection| {
                let mut appended = Vec::new();
                let mut gone = Vec::new();
                let mut progressed = false;
                for output in outputs {
                    if !output.lines.is_empty() {
                        match logs::append(connection, output.job_id, &output.lines) {
                            Ok(seq) => appended.push((output.job_id, seq)),
                            Err(StoreError::Conflict(_)) => {
                                gone.push(output.job_id);
                                continue;
                            }
                            Err(error) => return Err(error),
                        }
                    }
                    if let Some(progress) = &output.progress {
                        jobs::progress(connection, output.job_id, progress)?;
                        progressed = true;
                    }
                }
                Ok((appended, gone, progressed))
            })
            .await?;
        let (appended, gone, progressed) = written;
        if progressed {
            self.announce(StoreNotice::JobsChanged);
        }
        for (job_id, seq) in appended {
            self.announce(StoreNotice::LogAppended { job_id, seq });
        }
        Ok(gone)
    }

    async fn log_list(
        &self,
        job_id: JobId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogLine>, StoreError> {
        self.read(move |connection| logs::list(connection, job_id, after_seq, limit))
            .await
    }

    async fn kv_get(
        &self,
        scope: &KvScope,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.read_now(|connection| kv::get(connection, scope, key))
    }

    async fn kv_set(
        &self,
        scope: &KvScope,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), StoreError> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.write(move |connection| kv::set(connection, &scope, &key, &value))
            .await
    }

    async fn kv_delete(&self, scope: &KvScope, key: &str) -> Result<bool, StoreError> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.write(move |connection| kv::delete(connection, &scope, &key))
            .await
    }

    async fn kv_list(
        &self,
        scope: &KvScope,
        query: &KvQuery<'_>,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let scope = scope.clone();
        let (prefix, after) = (query.prefix.to_owned(), query.after.map(str::to_owned));
        let (limit, max_bytes) = (query.limit, query.max_bytes);
        self.read(move |connection| {
            kv::list(
                connection,
                &scope,
                &KvQuery {
                    prefix: &prefix,
                    after: after.as_deref(),
                    limit,
                    max_bytes,
                },
            )
        })
        .await
    }

    async fn event_record(&self, event: NewEvent) -> Result<EventRecorded, StoreError> {
        self.write(move |connection| kv::record_event(connection, &event))
            .await
    }

    async fn plugin_metadata_put(&self, record: PluginMetadataRecord) -> Result<(), StoreError> {
        self.write(move |connection| kv::metadata_put(connection, &record))
            .await
    }

    async fn plugin_metadata_get(
        &self,
        plugin: &str,
    ) -> Result<Option<PluginMetadataRecord>, StoreError> {
        let plugin = plugin.to_owned();
        self.read(move |connection| kv::metadata_get(connection, &plugin))
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreNotice> {
        self.notices.subscribe()
    }

    async fn close(&self) {
        if let Some(watcher) = lock(&self.watcher).take() {
            watcher.abort();
        }
        lock(&self.readers).clear();
        // Dropping the last handle ends the writer thread after it finished what it holds.
        drop(lock(&self.writer).take());
        let thread = lock(&self.writer_thread).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    async fn plugin_get(&self, id: &str) -> Result<Option<InstalledPlugin>, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| plugins::get(connection, &id))
            .await
    }

    async fn plugin_list(&self) -> Result<Vec<InstalledPlugin>, StoreError> {
        self.read(plugins::list).await
    }

    async fn plugin_put(&self, plugin: InstalledPlugin) -> Result<(), StoreError> {
        self.write(move |connection| plugins::put(connection, &plugin))
            .await
    }

    async fn plugin_remove(&self, removal: PluginRemoval) -> Result<bool, StoreError> {
        self.write(move |connection| plugins::remove(connection, &removal))
            .await
    }

    async fn plugin_lock_acquire(
        &self,
        plugin: &str,
        job: JobId,
    ) -> Result<LockOutcome, StoreError> {
        let plugin = plugin.to_owned();
        self.write(move |connection| plugins::lock_acquire(connection, &plugin, job))
            .await
    }

    async fn plugin_lock_release(&self, plugin: &str, job: JobId) -> Result<(), StoreError> {
        let plugin = plugin.to_owned();
        self.write(move |connection| plugins::lock_release(connection, &plugin, job))
            .await
    }

    async fn plugin_lock_holder(&self, plugin: &str) -> Result<Option<JobId>, StoreError> {
        let plugin = plugin.to_owned();
        self.read(move |connection| plugins::lock_holder(connection, &plugin))
            .await
    }

    async fn package_put(&self, package: PackageRecord) -> Result<(), StoreError> {
        self.write(move |connection| plugins::package_put(connection, &package))
            .await
    }

    async fn package_get(
        &self,
        plugin: &str,
        version: &str,
    ) -> Result<Option<PackageRecord>, StoreError> {
        let (plugin, version) = (plugin.to_owned(), version.to_owned());
        self.read(move |connection| plugins::package_get(connection, &plugin, &version))
            .await
    }

    async fn package_list(&self, plugin: &str) -> Result<Vec<PackageInfo>, StoreError> {
        let plugin = plugin.to_owned();
        self.read(move |connection| plugins::package_list(connection, &plugin))
            .await
    }

    async fn package_delete(&self, plugin: &str, version: &str) -> Result<bool, StoreError> {
        let (plugin, version) = (plugin.to_owned(), version.to_owned());
        self.write(move |connection| plugins::package_delete(connection, &plugin, &version))
            .await
    }

    async fn tenant_create(&self, id: &str, name: &str) -> Result<Tenant, StoreError> {
        let (id, name) = (id.to_owned(), name.to_owned());
        self.write(move |connection| tenants::tenant_create(connection, &id, &name))
            .await
    }

    async fn tenant_get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| tenants::tenant_get(connection, &id))
            .await
    }

    async fn tenant_list(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(tenants::tenant_list).await
    }

    async fn tenant_delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| tenants::tenant_delete(connection, &id))
            .await
    }

    async fn config_put(&self, put: ConfigPut) -> Result<Config, StoreError> {
        self.write(move |connection| tenants::config_put(connection, &put))
            .await
    }

    async fn config_get(&self, id: &str) -> Result<Option<Config>, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| tenants::config_get(connection, &id))
            .await
    }

    async fn config_find(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
    ) -> Result<Option<Config>, StoreError> {
        let (tenant, plugin, name) = (tenant.to_owned(), plugin.to_owned(), name.to_owned());
        self.read(move |connection| tenants::config_find(connection, &tenant, &plugin, &name))
            .await
    }

    async fn config_list(&self, filter: ConfigFilter) -> Result<Vec<Config>, StoreError> {
        self.read(move |connection| tenants::config_list(connection, &filter))
            .await
    }

    async fn config_delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| tenants::config_delete(connection, &id))
            .await
    }

    async fn minutes_add(&self, node: &str, counts: Vec<MinuteCounts>) -> Result<(), StoreError> {
        let node = node.to_owned();
        self.write(move |connection| jobs::minutes_add(connection, &node, &counts))
            .await
    }

    async fn minutes_list(&self, since: Timestamp) -> Result<Vec<MinuteCounts>, StoreError> {
        self.read(move |connection| jobs::minutes_list(connection, since))
            .await
    }

    async fn minutes_prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write(move |connection| jobs::minutes_prune(connection, before))
            .await
    }

    async fn webhook_put(&self, config_id: &str, secret_sha256: &str) -> Result<bool, StoreError> {
        let (id, hash) = (config_id.to_owned(), secret_sha256.to_owned());
        self.write(move |connection| tenants::webhook_put(connection, &id, &hash))
            .await
    }

    async fn webhook_get(&self, config_id: &str) -> Result<Option<String>, StoreError> {
        let id = config_id.to_owned();
        self.read(move |connection| tenants::webhook_get(connection, &id))
            .await
    }

    async fn webhook_delete(&self, config_id: &str) -> Result<bool, StoreError> {
        let id = config_id.to_owned();
        self.write(move |connection| tenants::webhook_delete(connection, &id))
            .await
    }

    async fn config_set_invalid(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| {
            tenants::config_set_invalid(connection, &id, reason.as_deref())
        })
        .await
    }

    async fn config_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Config>, StoreError> {
        self.read(move |connection| tenants::config_due(connection, now, limit))
            .await
    }

    async fn config_fire_many(
        &self,
        fires: Vec<ConfigFire>,
    ) -> Result<Vec<FireOutcome>, StoreError> {
        let mut queues: Vec<String> = fires
            .iter()
            .flat_map(|fire| fire.jobs.iter().map(|job| job.queue.clone()))
            .collect();
        queues.sort();
        queues.dedup();
        let outcomes = self
            .write(move |connection| {
                fires
                    .iter()
                    .map(|fire| tenants::config_fire(connection, fire))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let created = outcomes.iter().any(|outcome| {
            matches!(outcome, FireOutcome::Applied { enqueued, .. } if enqueued.iter().any(|job| job.created))
        });
        if created {
            for queue in queues {
                self.announce(StoreNotice::JobsAvailable { queue: Some(queue) });
            }
        }
        Ok(outcomes)
    }

    async fn config_subscribed(&self, tenant: &str) -> Result<Vec<Config>, StoreError> {
        let tenant = tenant.to_owned();
        self.read(move |connection| tenants::config_subscribed(connection, &tenant))
            .await
    }

    async fn event_get(&self, id: i64) -> Result<Option<EventRecord>, StoreError> {
        self.read(move |connection| tenants::event_get(connection, id))
            .await
    }

    async fn event_list(&self, filter: EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        self.read(move |connection| tenants::event_list(connection, &filter))
            .await
    }

    async fn event_mark_delivered(&self, id: i64, deliveries: i64) -> Result<bool, StoreError> {
        self.write(move |connection| tenants::event_mark_delivered(connection, id, deliveries))
            .await
    }

    async fn event_prune(&self, created_before: Timestamp) -> Result<u64, StoreError> {
        self.write(move |connection| tenants::event_prune(connection, created_before))
            .await
    }

    async fn token_create(&self, token: NewApiToken) -> Result<ApiToken, StoreError> {
        self.write(move |connection| tokens::create(connection, &token))
            .await
    }

    async fn token_find_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |connection| tokens::find_by_hash(connection, &hash))
            .await
    }

    async fn token_list(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.read(tokens::list).await
    }

    async fn token_revoke(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| tokens::revoke(connection, &id))
            .await
    }

    async fn limit_put(&self, limit: JobLimit) -> Result<JobLimit, StoreError> {
        let stored = limit.clone();
        self.write(move |connection| limits::put(connection, &stored))
            .await?;
        self.limited.store(true, Ordering::Relaxed);
        self.announce(StoreNotice::JobsAvailable { queue: None });
        Ok(limit)
    }

    async fn limit_delete(&self, scope: LimitScope, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let deleted = self
            .write(move |connection| limits::delete(connection, scope, &name))
            .await?;
        // Jobs the limit held back may start now.
        self.announce(StoreNotice::JobsAvailable { queue: None });
        Ok(deleted)
    }

    async fn limit_list(&self) -> Result<Vec<JobLimit>, StoreError> {
        self.read(limits::list).await
    }

    async fn limit_usage(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> Result<Vec<LimitUsage>, StoreError> {
        let tenant = tenant.map(str::to_owned);
        let plugin = plugin.map(str::to_owned);
        self.read(move |connection| limits::usage(connection, tenant.as_deref(), plugin.as_deref()))
            .await
    }

    async fn config_create(&self, put: ConfigPut) -> Result<Config, StoreError> {
        self.write(move |connection| tenants::config_create(connection, &put))
            .await
    }

    async fn job_counts_by_kind(&self) -> Result<Vec<JobKindCount>, StoreError> {
        self.read(jobs::counts_by_kind).await
    }

    async fn node_register(&self, node: NewNode) -> Result<Node, StoreError> {
        self.write(move |connection| nodes::register(connection, &node))
            .await
    }

    async fn node_heartbeat(&self, id: &str, plugins: Vec<String>) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| nodes::heartbeat(connection, &id, &plugins))
            .await
    }

    async fn node_stop(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| nodes::stop(connection, &id))
            .await
    }

    async fn node_list(&self) -> Result<Vec<Node>, StoreError> {
        self.read(nodes::list).await
    }

    async fn node_get(&self, id: &str) -> Result<Option<Node>, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| nodes::get(connection, &id))
            .await
    }

    async fn node_prune(&self, not_seen_for: Duration) -> Result<u64, StoreError> {
        self.write(move |connection| nodes::prune(connection, not_seen_for))
            .await
    }

    async fn job_changes(
        &self,
        after: ChangeCursor,
        filter: ChangeFilter,
        limit: usize,
    ) -> Result<Vec<JobChange>, StoreError> {
        self.read(move |connection| jobs::changes(connection, after, &filter, limit))
            .await
    }

    async fn job_change_head(&self) -> Result<ChangeCursor, StoreError> {
        self.read(jobs::change_head).await
    }

    async fn upload_put(&self, name: &str, sha256: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let (name, sha256) = (name.to_owned(), sha256.to_owned());
        self.write(move |connection| plugins::upload_put(connection, &name, &sha256, &data))
            .await
    }

    async fn upload_get(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let name = name.to_owned();
        self.read(move |connection| plugins::upload_get(connection, &name))
            .await
    }

    async fn upload_delete(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |connection| plugins::upload_delete(connection, &name))
            .await
    }

    async fn upload_prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write(move |connection| plugins::upload_prune(connection, before))
            .await
    }
}
