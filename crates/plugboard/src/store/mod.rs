//! The store: the only code in plugboard that speaks SQL.
//!
//! One interface, [`Store`], and two implementations: [`sqlite::SqliteStore`] (the default, a file
//! in the data directory) and [`postgres::PostgresStore`] (shared by several nodes). Each owns its
//! migrations and applies them when it opens. The conformance suite in `conformance.rs` runs every
//! behaviour against both, so callers never branch on the backend: where the two differ, the
//! difference is a capability described on the trait (for example how far [`Store::subscribe`]
//! reaches), never an `if postgres` outside this folder.
//!
//! Owns: tables, indexes, migrations, transactions, the clock used for leases (the database's own
//! clock on PostgreSQL, the host's on SQLite), and turning backend errors into [`StoreError`].
//! Must not touch: retry policy, job kinds, processes or HTTP. The store applies the decisions
//! `queue/` makes (for example "put this job back at time T"); it never makes them.

mod changes;
mod job;
mod kv;
pub mod limits;
mod nodes;
mod plugins;
pub mod postgres;
pub mod sqlite;
mod tenants;
mod tokens;

#[cfg(test)]
mod conformance;
#[cfg(test)]
pub mod testing;

use async_trait::async_trait;
use tokio::sync::broadcast;

pub use changes::{ChangeCursor, ChangeFilter, JobChange};
pub use job::{
    CancelOutcome, ClaimParams, Enqueued, FinishOutcome, HeartbeatOutcome, HeartbeatParams, Job,
    JobCount, JobFilter, JobFinish, JobId, JobKindCount, JobOutput, JobStatus, LogLevel, LogLine,
    MinuteCounts, NewJob, NewLogLine, PayloadMatch, PruneParams, Timestamp, UnfinishedCounts,
};
pub use kv::{EventRecorded, KvQuery, KvScope, MetadataState, NewEvent, PluginMetadataRecord};
pub use limits::{JobLimit, LimitScope, LimitUsage};
pub use nodes::{NewNode, Node, NodeQueue};
pub use plugins::{
    InstalledPlugin, LockOutcome, PackageInfo, PackageRecord, PluginRemoval, PluginState,
};
pub use tenants::{
    ActiveRule, Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, EventRecord, FireOutcome,
    ScheduleCursor, Tenant,
};
pub use tokens::{ApiToken, NewApiToken, TokenAccess};

/// Which database a store speaks to. Used for labels in health output and benchmarks only;
/// behaviour never depends on it outside `store/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Something that changed in the store, announced to subscribers in this process and, where the
/// backend can, in other processes too (see [`Store::subscribe`]).
#[derive(Debug, Clone, PartialEq)]
pub enum StoreNotice {
    /// Jobs became available to claim in `queue` (`None`: in some queue, unknown which).
    JobsAvailable { queue: Option<String> },
    /// A running job was asked to stop.
    CancelRequested { id: JobId },
    /// A job changed status.
    JobChanged { id: JobId, status: JobStatus },
    /// Jobs changed in this process (claims, finishes, progress): a hint for readers of
    /// [`Store::job_changes`], never sent to other processes.
    JobsChanged,
    /// Log lines up to and including `seq` were appended to a job.
    LogAppended { job_id: JobId, seq: i64 },
}

/// What can go wrong in the store. Messages say what failed and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file or its directory cannot be used.
    #[error("cannot open the SQLite database {path}: {reason}")]
    Open { path: String, reason: String },
    /// The PostgreSQL URL is malformed or the server cannot be reached.
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// A migration failed; the database is left at the previous version.
    #[error("migrating the {backend} database to version {version} failed: {reason}")]
    Migration {
        backend: &'static str,
        version: i64,
        reason: String,
    },
    /// The database was written by a newer plugboard.
    #[error("the database is at schema version {found}, newer than this plugboard knows ({known}); upgrade plugboard or point it at another database")]
    TooNew { found: i64, known: i64 },
    /// A uniqueness rule was broken (backend codes stay inside the store).
    #[error("{0}")]
    Conflict(String),
    /// A value read back from the database is not what plugboard wrote.
    #[error("unexpected data in the database: {0}")]
    Corrupt(String),
    /// Any other database failure, with the operation it happened in.
    #[error("database error in {op}: {message}")]
    Backend { op: &'static str, message: String },
    /// The store was closed (the host is shutting down).
    #[error("the store is closed")]
    Closed,
}

/// The persistence interface everything in plugboard goes through.
///
/// Every method is one transaction. Times that the methods compare (leases, `run_at`) are read
/// from the store's clock. All methods are safe to call from several tasks and, for PostgreSQL,
/// from several processes at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The database software and its version, for health output and benchmark reports
    /// (`sqlite 3.50.2`, `postgres 15.19`).
    async fn server_version(&self) -> Result<String, StoreError>;

    /// Inserts a job in status `queued`. When `unique_key` is set and a job with that key exists
    /// (in any status), nothing is inserted and the existing job is returned with
    /// `created: false`; concurrent enqueues of one key produce exactly one row.
    async fn job_enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError>;

    /// Inserts many jobs in one transaction, with the same unique-key rule as
    /// [`Store::job_enqueue`]. Returns one entry per input, in input order.
    async fn job_enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError>;

    /// Reads one job.
    async fn job_get(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Lists jobs, newest first, filtered and paged by [`JobFilter`].
    async fn job_list(&self, filter: JobFilter) -> Result<Vec<Job>, StoreError>;

    /// Counts jobs by queue and status.
    async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError>;

    /// Counts the queued and the running jobs, reading their own indexes only: cheap however
    /// many finished jobs are kept, unlike [`Store::job_counts`].
    async fn job_counts_unfinished(&self) -> Result<UnfinishedCounts, StoreError>;

    /// Claims up to `limit` queued jobs of `queue` whose `run_at` has passed, in order of
    /// priority (lower first), then `run_at`, then id. Each claimed job becomes `running`, its
    /// `attempt` grows by one, `started_at` is set, and it is leased to `owner` until now +
    /// `lease`. On PostgreSQL concurrent claimers never receive the same job
    /// (`FOR UPDATE SKIP LOCKED`).
    async fn job_claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError>;

    /// Extends the lease of those `ids` that are still `running` and leased to `owner`. Returns
    /// which of them are still held and which of those have a cancel request.
    async fn job_heartbeat(&self, params: HeartbeatParams) -> Result<HeartbeatOutcome, StoreError>;

    /// Applies the outcome of finished attempts. Each finish applies only if the job is still
    /// `running`, leased to `owner`, at `attempt`; returns the ids that applied (a worker whose
    /// lease expired and was rescued cannot overwrite the newer attempt).
    async fn job_finish_many(&self, finishes: Vec<JobFinish>) -> Result<Vec<JobId>, StoreError>;

    /// Hands leases back without counting the attempt: each `running` job in `ids` leased to
    /// `owner` returns to `queued` with `attempt` one lower. Used by graceful shutdown.
    async fn job_release(&self, owner: &str, ids: &[JobId]) -> Result<u64, StoreError>;

    /// Rescues jobs whose lease expired: each goes back to `queued` (runnable at once) with the
    /// error `lease expired`, or to `failed` when it has used all its attempts. A cancel request
    /// on such a job makes it `cancelled` instead. Returns the rescued ids.
    async fn job_rescue(&self) -> Result<Vec<JobId>, StoreError>;

    /// Cancels a job: a `queued` job becomes `cancelled` at once; a `running` one gets
    /// `cancel_requested` and is announced with [`StoreNotice::CancelRequested`].
    async fn job_cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError>;

    /// Puts a `failed` or `cancelled` job back in the queue by hand: status `queued`, `run_at`
    /// now, `attempt` 0, error and cancel request cleared. Returns `None` when the job does not
    /// exist; a job in another status is returned unchanged.
    async fn job_retry(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Sets the progress of a running job (any JSON the job chooses).
    async fn job_progress(&self, id: JobId, progress: serde_json::Value) -> Result<(), StoreError>;

    /// Deletes finished jobs (`succeeded`, `failed`, `cancelled`) and their logs: those finished
    /// before `finished_before`, and all but the newest `keep_last` finished ones. Returns how
    /// many jobs were deleted.
    async fn job_prune(&self, params: PruneParams) -> Result<u64, StoreError>;

    /// Appends log lines to a job; each gets the next sequence number of that job (1, 2, ...).
    /// Returns the last sequence number given out.
    async fn log_append(&self, job_id: JobId, lines: Vec<NewLogLine>) -> Result<i64, StoreError>;

    /// Writes what several running jobs produced (log lines and latest progress) at once, as one
    /// transaction where the backend can. Each job's lines get its next sequence numbers, in
    /// order. Returns the jobs that no longer exist, whose output was dropped.
    async fn job_output_write(&self, outputs: Vec<JobOutput>) -> Result<Vec<JobId>, StoreError> {
        let writes = outputs.into_iter().map(|output| async move {
            if !output.lines.is_empty() {
                match self.log_append(output.job_id, output.lines).await {
                    Ok(_) => {}
                    Err(StoreError::Conflict(_)) => return Ok(Some(output.job_id)),
                    Err(error) => return Err(error),
                }
            }
            if let Some(progress) = output.progress {
                self.job_progress(output.job_id, progress).await?;
            }
            Ok(None)
        });
        let mut gone = Vec::new();
        for outcome in futures_util::future::join_all(writes).await {
            if let Some(job_id) = outcome? {
                gone.push(job_id);
            }
        }
        Ok(gone)
    }

    /// Reads up to `limit` log lines of a job with a sequence number above `after_seq`, in order.
    async fn log_list(
        &self,
        job_id: JobId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogLine>, StoreError>;

    /// Reads a plugin's stored value.
    async fn kv_get(
        &self,
        scope: &KvScope,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// Stores a value, replacing any under the same key.
    async fn kv_set(
        &self,
        scope: &KvScope,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), StoreError>;

    /// Deletes a value; true when there was one.
    async fn kv_delete(&self, scope: &KvScope, key: &str) -> Result<bool, StoreError>;

    /// Lists values whose key starts with `query.prefix` and sorts after `query.after`, in key
    /// order: at most `query.limit`, and no more once the values before one reach
    /// `query.max_bytes` as stored text (so a page holds at most `max_bytes` plus one value, and
    /// at least one value when there is one).
    async fn kv_list(
        &self,
        scope: &KvScope,
        query: &KvQuery<'_>,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError>;

    /// Records an event; a repeated idempotency key of the same tenant records nothing and
    /// answers the first event's id.
    async fn event_record(&self, event: NewEvent) -> Result<EventRecorded, StoreError>;

    /// Stores a plugin's metadata record, replacing the previous one. A record whose
    /// `metadata` is `None` keeps the stored metadata (a failed handshake does not erase what
    /// the last good one said).
    async fn plugin_metadata_put(&self, record: PluginMetadataRecord) -> Result<(), StoreError>;

    /// Reads a plugin's metadata record; `None` is "missing".
    async fn plugin_metadata_get(
        &self,
        plugin: &str,
    ) -> Result<Option<PluginMetadataRecord>, StoreError>;

    /// Announcements of changes. SQLite announces its own changes in this process and wakes up
    /// on commits by other processes to the same file (as `JobsAvailable { queue: None }`);
    /// PostgreSQL announces every change to every node through `LISTEN/NOTIFY`. A subscriber
    /// that lags may miss notices, so notices are hints: the source of truth is the database.
    fn subscribe(&self) -> broadcast::Receiver<StoreNotice>;

    /// Flushes and closes connections. Further calls fail with [`StoreError::Closed`].
    async fn close(&self);

    /// Reads a plugin's registry row.
    async fn plugin_get(&self, id: &str) -> Result<Option<InstalledPlugin>, StoreError>;

    /// Every plugin in the registry, by id.
    async fn plugin_list(&self) -> Result<Vec<InstalledPlugin>, StoreError>;

    /// Writes a plugin's registry row, replacing the previous one; `updated_at` is set to now.
    async fn plugin_put(&self, plugin: InstalledPlugin) -> Result<(), StoreError>;

    /// Deletes a plugin's registry row and every package version kept for it, and with
    /// `delete_data` its key-value data, cached metadata and every tenant's configs of it, in one
    /// transaction. True when there
    /// was a row.
    async fn plugin_remove(&self, removal: PluginRemoval) -> Result<bool, StoreError>;

    /// Takes the admin lock of `plugin` for `job`: free, already `job`'s, or held by a job that
    /// is no longer queued or running (it crashed and gave up) all give
    /// [`LockOutcome::Acquired`]; otherwise the holder is named.
    async fn plugin_lock_acquire(
        &self,
        plugin: &str,
        job: JobId,
    ) -> Result<LockOutcome, StoreError>;

    /// Releases `job`'s admin lock of `plugin` (nothing happens when another job holds it).
    async fn plugin_lock_release(&self, plugin: &str, job: JobId) -> Result<(), StoreError>;

    /// The job holding the admin lock of `plugin`, if that job is still queued or running.
    async fn plugin_lock_holder(&self, plugin: &str) -> Result<Option<JobId>, StoreError>;

    /// Keeps a package version with its archive, replacing one of the same plugin and version.
    async fn package_put(&self, package: PackageRecord) -> Result<(), StoreError>;

    /// Reads a kept package version, archive included.
    async fn package_get(
        &self,
        plugin: &str,
        version: &str,
    ) -> Result<Option<PackageRecord>, StoreError>;

    /// The kept versions of a plugin, without their archives, oldest first.
    async fn package_list(&self, plugin: &str) -> Result<Vec<PackageInfo>, StoreError>;

    /// Deletes a kept package version; true when there was one.
    async fn package_delete(&self, plugin: &str, version: &str) -> Result<bool, StoreError>;
    /// Creates a tenant. An existing id is [`StoreError::Conflict`].
    async fn tenant_create(&self, id: &str, name: &str) -> Result<Tenant, StoreError>;

    /// Reads one tenant.
    async fn tenant_get(&self, id: &str) -> Result<Option<Tenant>, StoreError>;

    /// Lists every tenant, by id.
    async fn tenant_list(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Deletes a tenant and its configs (its events and jobs stay as history); true when it
    /// existed.
    async fn tenant_delete(&self, id: &str) -> Result<bool, StoreError>;

    /// Inserts a config, or replaces the one with its id, and returns it as stored. A second
    /// config of one tenant and plugin with the same name, or one for a tenant that does not
    /// exist, is [`StoreError::Conflict`] and writes nothing.
    async fn config_put(&self, put: ConfigPut) -> Result<Config, StoreError>;

    /// Reads one config.
    async fn config_get(&self, id: &str) -> Result<Option<Config>, StoreError>;

    /// Reads the config of a tenant and plugin with this name.
    async fn config_find(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
    ) -> Result<Option<Config>, StoreError>;

    /// Lists configs by tenant, plugin and name.
    async fn config_list(&self, filter: ConfigFilter) -> Result<Vec<Config>, StoreError>;

    /// Deletes a config; true when it existed.
    async fn config_delete(&self, id: &str) -> Result<bool, StoreError>;

    /// Adds a node's counts of finished attempts to their minutes (each added to what the
    /// minute holds for that node).
    async fn minutes_add(&self, node: &str, counts: Vec<MinuteCounts>) -> Result<(), StoreError>;

    /// The counts of every minute from `since` on, summed over nodes, oldest first; minutes
    /// with nothing counted are absent.
    async fn minutes_list(&self, since: Timestamp) -> Result<Vec<MinuteCounts>, StoreError>;

    /// Forgets the minutes before `before`; how many rows went.
    async fn minutes_prune(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Sets the webhook of a config: the sha256 (hex) of the secret in its address, replacing
    /// the one it had. False when the config does not exist (nothing is written).
    async fn webhook_put(&self, config_id: &str, secret_sha256: &str) -> Result<bool, StoreError>;

    /// The sha256 (hex) of a config's webhook secret; `None`: the config has no webhook.
    async fn webhook_get(&self, config_id: &str) -> Result<Option<String>, StoreError>;

    /// Removes a config's webhook; true when it had one.
    async fn webhook_delete(&self, config_id: &str) -> Result<bool, StoreError>;

    /// Sets or clears why a config may not run (the plugin's schema rejects it).
    async fn config_set_invalid(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` enabled, valid configs whose `next_fire_at` is at or before `now`, the
    /// earliest first.
    async fn config_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Config>, StoreError>;

    /// Applies schedule evaluations, each atomically and only if its config is still enabled,
    /// valid and at `expected_last_fire`: moves the cursor and enqueues the jobs (unique keys
    /// apply), or with [`ActiveRule::SkipWhileActive`] enqueues nothing while the config has a
    /// job queued or running. One answer per input, in input order. Concurrent evaluations of
    /// one config on any number of nodes: exactly one applies.
    async fn config_fire_many(
        &self,
        fires: Vec<ConfigFire>,
    ) -> Result<Vec<FireOutcome>, StoreError>;

    /// The enabled, valid configs of `tenant` that subscribe to at least one event pattern.
    async fn config_subscribed(&self, tenant: &str) -> Result<Vec<Config>, StoreError>;

    /// Reads one event.
    async fn event_get(&self, id: i64) -> Result<Option<EventRecord>, StoreError>;

    /// Lists events, newest first.
    async fn event_list(&self, filter: EventFilter) -> Result<Vec<EventRecord>, StoreError>;

    /// Records that an event's jobs were enqueued, reaching `deliveries` configs. Only the first
    /// call for an event writes; returns whether this one did.
    async fn event_mark_delivered(&self, id: i64, deliveries: i64) -> Result<bool, StoreError>;

    /// Deletes delivered events created before `created_before`; returns how many.
    async fn event_prune(&self, created_before: Timestamp) -> Result<u64, StoreError>;

    /// Stores an API token; `created_at` is now. A clash of id or hash is
    /// [`StoreError::Conflict`].
    async fn token_create(&self, token: NewApiToken) -> Result<ApiToken, StoreError>;

    /// The token whose secret hashes to `hash`, revoked and expired ones included (the caller
    /// decides what they may do).
    async fn token_find_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError>;

    /// Every token, newest first.
    async fn token_list(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes a token (a second revoke keeps the first time). Returns the token as it now is,
    /// `None` when there is no such id.
    async fn token_revoke(&self, id: &str) -> Result<Option<ApiToken>, StoreError>;

    /// Sets the limit of a tenant or plugin (or of every one, with the name
    /// [`limits::EVERY`]), replacing the one it had. Claims on every node follow it within a
    /// second.
    async fn limit_put(&self, limit: JobLimit) -> Result<JobLimit, StoreError>;

    /// Removes a limit. Returns whether there was one.
    async fn limit_delete(&self, scope: LimitScope, name: &str) -> Result<bool, StoreError>;

    /// Every limit, by scope and name.
    async fn limit_list(&self) -> Result<Vec<JobLimit>, StoreError>;

    /// The limits in force for a job of `tenant` running `plugin`, each with how full it is now.
    async fn limit_usage(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> Result<Vec<LimitUsage>, StoreError>;
    /// Inserts a new config and returns it as stored, never replacing one: an id that exists,
    /// a second config of one tenant and plugin with the same name, or a tenant that does not
    /// exist is [`StoreError::Conflict`] and writes nothing. Of concurrent creations of one
    /// tenant, plugin and name, exactly one succeeds.
    async fn config_create(&self, put: ConfigPut) -> Result<Config, StoreError>;

    /// Counts jobs by kind and status.
    async fn job_counts_by_kind(&self) -> Result<Vec<JobKindCount>, StoreError>;

    /// Records a node that started: inserts it, or replaces the row of the same id, with
    /// `started_at` and `last_seen_at` now and no `stopped_at`.
    async fn node_register(&self, node: NewNode) -> Result<Node, StoreError>;

    /// A node's heartbeat: `last_seen_at` now, and the plugins it has loaded. False when there
    /// is no such node (its row was pruned: register again).
    async fn node_heartbeat(&self, id: &str, plugins: Vec<String>) -> Result<bool, StoreError>;

    /// Records that a node shut down cleanly (`stopped_at` now); false when there is no such
    /// node.
    async fn node_stop(&self, id: &str) -> Result<bool, StoreError>;

    /// Every registered node, the most recently started first.
    async fn node_list(&self) -> Result<Vec<Node>, StoreError>;

    /// Reads one node.
    async fn node_get(&self, id: &str) -> Result<Option<Node>, StoreError>;

    /// Deletes the nodes not seen for longer than `not_seen_for`; returns how many.
    async fn node_prune(&self, not_seen_for: std::time::Duration) -> Result<u64, StoreError>;

    /// Jobs whose latest change comes after `after`, in change order, at most `limit`, each in
    /// its current state (see `changes.rs` for why no change is skipped).
    async fn job_changes(
        &self,
        after: ChangeCursor,
        filter: ChangeFilter,
        limit: usize,
    ) -> Result<Vec<JobChange>, StoreError>;

    /// A position at or after every change a reader can see now: where a reader that wants only
    /// what happens from now on starts.
    async fn job_change_head(&self) -> Result<ChangeCursor, StoreError>;

    /// Keeps an uploaded package (`name` as the API made it) until its job is done, so that any
    /// node can run the job.
    async fn upload_put(&self, name: &str, sha256: &str, data: Vec<u8>) -> Result<(), StoreError>;

    /// An uploaded package: its sha256 and bytes.
    async fn upload_get(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError>;

    /// Forgets an uploaded package; false when it was not there.
    async fn upload_delete(&self, name: &str) -> Result<bool, StoreError>;

    /// Forgets uploads older than `before` (their jobs never ran or never ended).
    async fn upload_prune(&self, before: Timestamp) -> Result<u64, StoreError>;
}
