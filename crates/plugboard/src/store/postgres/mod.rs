//! The PostgreSQL store: one database (optionally one schema in it) shared by every plugboard
//! node, a pool of connections, and one more connection that `LISTEN`s for notices.
//!
//! Owns: the tables in its schema, their migrations (applied under an advisory lock, so nodes
//! starting together are safe), the statements behind every [`Store`] method, and the
//! `plugboard[_<schema>]` notification channel. Times come from the database's clock (`now()`),
//! so nodes with skewed clocks still agree on leases. Claims use `FOR UPDATE SKIP LOCKED`, so
//! concurrent claimers on any node never get the same job.
//!
//! Must not touch: anything outside its schema (it creates the schema when missing, and
//! [`PostgresStore::drop_schema`] exists for tests only).
//!
//! Limits: PostgreSQL text cannot hold the NUL character, so NULs in log messages and error
//! texts are stored as U+FFFD, and a payload, result or progress containing `\u0000` is refused.
//! No TLS: reach a remote server through a private network or a tunnel.

mod connect;
mod enqueue;
mod finish;
mod jobs;
mod kv;
mod limits;
mod logs;
mod migrations;
mod nodes;
mod notify;
mod plugins;
mod tenants;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::limits::Limits;
use super::{
    ApiToken, InstalledPlugin, LockOutcome, NewApiToken, PackageInfo, PackageRecord,
    PluginMetadataRecord, PluginRemoval,
};
use super::{
    Backend, CancelOutcome, ClaimParams, Enqueued, EventRecorded, HeartbeatOutcome,
    HeartbeatParams, Job, JobCount, JobFilter, JobFinish, JobId, KvQuery, KvScope, LogLine,
    NewEvent, NewJob, NewLogLine, PruneParams, Store, StoreError, StoreNotice,
};
use super::{ChangeCursor, ChangeFilter, JobChange};
use super::{
    Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, EventRecord, FireOutcome, Tenant,
    Timestamp,
};
use super::{JobLimit, LimitScope, LimitUsage};

use super::{JobKindCount, MinuteCounts, NewNode, Node, UnfinishedCounts};

/// The pool size used when [`PostgresOptions::pool_size`] is 0.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How to connect a PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A `postgres://user:password@host:port/database` URL or a `key=value` connection string.
    pub url: String,
    /// The schema holding plugboard's tables, created when missing; `None`: the server's
    /// default `search_path` (usually `public`).
    pub schema: Option<String>,
    /// The most pooled connections (one more is used for `LISTEN`); 0 means
    /// [`DEFAULT_POOL_SIZE`].
    pub pool_size: usize,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PostgresOptions")
            .field("url", &connect::redact_url(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// A store in a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    channel: String,
    notices: broadcast::Sender<StoreNotice>,
    listener: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    /// Per queue, the tenant the last claim served: the next claim starts after it.
    claim_after: Mutex<HashMap<String, String>>,
    /// The limits as last read; read again when older than [`LIMITS_FRESH_FOR`].
    limits: Mutex<Option<limits::LimitsRead>>,
}

/// How long a node trusts the limits it read before reading them again: a limit set on one node
/// holds on the others within this time.
const LIMITS_FRESH_FOR: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Connects, creates the schema when it is missing, applies migrations and starts listening
    /// for notices. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::Connect`] for a malformed URL, a schema name that is not plain letters,
    /// digits and underscores, or a server that cannot be reached or refuses us;
    /// [`StoreError::Migration`] or [`StoreError::TooNew`] when the schema cannot be brought to
    /// this version.
    pub async fn connect(options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let url = connect::redact_url(&options.url);
        let schema = options
            .schema
            .as_deref()
            .map(|schema| connect::checked_schema(&options.url, schema))
            .transpose()?;
        let listen_config = connect::config(&options.url, None)?;
        let config = connect::config(&options.url, schema)?;
        let pool_size = if options.pool_size == 0 {
            DEFAULT_POOL_SIZE
        } else {
            options.pool_size
        };
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(config.get_connect_timeout().map(|timeout| *timeout * 2))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|error| StoreError::Connect {
                url: url.clone(),
                reason: format!("cannot build the connection pool: {error}"),
            })?;
        let mut client = pool.get().await.map_err(|error| StoreError::Connect {
            url: url.clone(),
            reason: match error {
                PoolError::Backend(error) => connect::explain_connect_error(&config, &error),
                PoolError::Timeout(_) => connect::explain_connect_timeout(&config),
                other => other.to_string(),
            },
        })?;
        migrations::apply(&mut client, schema).await?;
        drop(client);
        let channel = notify::channel_name(schema);
        let (notices, _) = broadcast::channel(1024);
        let listener = notify::start(listen_config, channel.clone(), notices.clone())
            .await
            .map_err(|reason| StoreError::Connect {
                url,
                reason: format!("cannot listen for notices: {reason}"),
            })?;
        Ok(PostgresStore {
            pool,
            channel,
            notices,
            listener: Mutex::new(Some(listener)),
            closed: AtomicBool::new(false),
            claim_after: Mutex::new(HashMap::new()),
            limits: Mutex::new(None),
        })
    }

    /// Drops `schema` and everything in it (`DROP SCHEMA .. CASCADE`). For tests, which give
    /// each store its own schema.
    ///
    /// # Errors
    /// [`StoreError::Connect`] when the URL, the schema name or the server is unusable;
    /// [`StoreError::Backend`] when the drop itself fails.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        let schema = connect::checked_schema(url, schema)?;
        let config = connect::config(url, None)?;
        let (client, connection) =
            config
                .connect(NoTls)
                .await
                .map_err(|error| StoreError::Connect {
                    url: connect::redact_url(url),
                    reason: connect::explain_connect_error(&config, &error),
                })?;
        let driver = tokio::spawn(connection);
        let dropped = client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                connect::quote_identifier(schema)
            ))
            .await
            .map_err(database_error("drop_schema"));
        // Dropping the client ends the connection, and with it the driver task.
        drop(client);
        let _ = driver.await;
        dropped
    }

    /// The limits in force, read at most [`LIMITS_FRESH_FOR`] ago.
    async fn current_limits(&self) -> Result<Arc<Limits>, StoreError> {
        if let Some((read_at, limits)) = lock(&self.limits).as_ref() {
            if read_at.elapsed() < LIMITS_FRESH_FOR {
                return Ok(limits.clone());
            }
        }
        let client = self.client().await?;
        let limits = Arc::new(Limits::new(limits::list(&client).await?));
        *lock(&self.limits) = Some((std::time::Instant::now(), limits.clone()));
        Ok(limits)
    }

    /// Whether the limits as last read are not empty.
    fn has_limits(&self) -> bool {
        lock(&self.limits)
            .as_ref()
            .is_some_and(|(_, limits)| !limits.is_empty())
    }

    /// The advisory lock that limited claims of this schema take turns through.
    fn limits_lock_key(&self) -> i64 {
        // FNV-1a: stable across builds and nodes, unlike std's hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in format!("plugboard job limits {}", self.channel).bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// Tells claimers on every node to look again (a limit changed).
    async fn wake_claimers(&self, client: &deadpool_postgres::Client) {
        let notice = [StoreNotice::JobsAvailable { queue: None }];
        if let Err(error) = notify::send(client, &self.channel, &notice).await {
            tracing::warn!(error = %describe(&error), "announcing a changed limit failed");
        }
    }

    /// A pooled connection, or [`StoreError::Closed`] after [`Store::close`].
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.pool.get().await.map_err(|error| match error {
            PoolError::Closed => StoreError::Closed,
            PoolError::Backend(error) => StoreError::Backend {
                op: "connect",
                message: describe(&error),
            },
            other => StoreError::Backend {
                op: "connect",
                message: other.to_string(),
            },
        })
    }
}

impl Drop for PostgresStore {
    /// Stops the listening task of a store dropped without [`Store::close`], so it does not keep
    /// a connection open for the life of the runtime.
    fn drop(&mut self) {
        let listener = self
            .listener
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(listener) = listener {
            listener.abort();
        }
    }
}

/// The database's own message where there is one (with its detail), else the driver's.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(database_error) => match database_error.detail() {
            Some(detail) => format!("{} ({detail})", database_error.message()),
            None => database_error.message().to_owned(),
        },
        None => error.to_string(),
    }
}

/// Turns a driver error in `op` into a [`StoreError`]: unique violations become
/// [`StoreError::Conflict`], everything else [`StoreError::Backend`].
fn database_error(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(format!("{op}: {}", describe(&error)))
        } else {
            StoreError::Backend {
                op,
                message: describe(&error),
            }
        }
    }
}

/// `text` without NUL characters, which PostgreSQL text cannot hold.
fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// A duration in whole microseconds, as the statements take it (saturating).
/// Locks a mutex, recovering from a poisoned one (the caches behind these stay valid).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(database_error("ping"))?;
        Ok(())
    }

    async fn server_version(&self) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .map_err(database_error("server_version"))?;
        let version: String = row.try_get(0).map_err(database_error("server_version"))?;
        Ok(format!("postgres {version}"))
    }

    async fn job_enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let client = self.client().await?;
        enqueue::enqueue(&client, &self.channel, &job).await
    }

    async fn job_enqueue_many(&self, new_jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, StoreError> {
        let mut client = self.client().await?;
        enqueue::enqueue_many(&mut client, &self.channel, &new_jobs).await
    }

    async fn job_get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let client = self.client().await?;
        jobs::get(&client, id).await
    }

    async fn job_list(&self, filter: JobFilter) -> Result<Vec<Job>, StoreError> {
        let client = self.client().await?;
        jobs::list(&client, &filter).await
    }

    async fn job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        let client = self.client().await?;
        jobs::counts(&client).await
    }

    async fn job_counts_unfinished(&self) -> Result<UnfinishedCounts, StoreError> {
        let client = self.client().await?;
        jobs::counts_unfinished(&client).await
    }

    async fn job_claim(&self, params: ClaimParams) -> Result<Vec<Job>, StoreError> {
        let limits = self.current_limits().await?;
        let after = lock(&self.claim_after)
            .get(&params.queue)
            .cloned()
            .unwrap_or_default();
        let mut client = self.client().await?;
        let claimed = if limits.is_empty() {
            limits::claim_unlimited(&client, &params, &after).await?
        } else {
            limits::claim_limited(
                &mut client,
                &params,
                &after,
                &limits,
                self.limits_lock_key(),
            )
            .await?
        };
        if let Some(tenant) = claimed.last_tenant {
            lock(&self.claim_after).insert(params.queue, tenant);
        }
        if !claimed.jobs.is_empty() {
            let _ = self.notices.send(StoreNotice::JobsChanged);
        }
        Ok(claimed.jobs)
    }

    async fn job_heartbeat(&self, params: HeartbeatParams) -> Result<HeartbeatOutcome, StoreError> {
        let client = self.client().await?;
        jobs::heartbeat(&client, &params).await
    }

    async fn job_finish_many(&self, finishes: Vec<JobFinish>) -> Result<Vec<JobId>, StoreError> {
        let mut client = self.client().await?;
        let applied = finish::finish_many(&mut client, &self.channel, &finishes).await?;
        if !applied.is_empty() {
            let _ = self.notices.send(StoreNotice::JobsChanged);
        }
        // A finish may bring a tenant or plugin back under its limit: wake claimers everywhere.
        if !applied.is_empty() && self.has_limits() {
            let notice = [StoreNotice::JobsAvailable { queue: None }];
            if let Err(error) = notify::send(&client, &self.channel, &notice).await {
                tracing::warn!(error = %describe(&error), "announcing freed limit capacity failed");
            }
        }
        Ok(applied)
    }

    async fn job_release(&self, owner: &str, ids: &[JobId]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        jobs::release(&client, &self.channel, owner, ids).await
    }

    async fn job_rescue(&self) -> Result<Vec<JobId>, StoreError> {
        let client = self.client().await?;
        jobs::rescue(&client, &self.channel).await
    }

    async fn job_cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError> {
        let mut client = self.client().await?;
        jobs::cancel(&mut client, &self.channel, id).await
    }

    async fn job_retry(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let client = self.client().await?;
        jobs::retry(&client, &self.channel, id).await
    }

    async fn job_progress(&self, id: JobId, progress: serde_json::Value) -> Result<(), StoreError> {
        let client = self.client().await?;
        jobs::progress(&client, id, &progress).await?;
        let _ = self.notices.send(StoreNotice::JobsChanged);
        Ok(())
    }

    async fn job_prune(&self, params: PruneParams) -> Result<u64, StoreError> {
        let client = self.client().await?;
        jobs::prune(&client, &params).await
    }

    async fn log_append(&self, job_id: JobId, lines: Vec<NewLogLine>) -> Result<i64, StoreError> {
        let client = self.client().await?;
        logs::append(&client, &self.channel, job_id, &lines).await
    }

    async fn log_list(
        &self,
        job_id: JobId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LogLine>, StoreError> {
        let client = self.client().await?;
        logs::list(&client, job_id, after_seq, limit).await
    }

    async fn kv_get(
        &self,
        scope: &KvScope,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        kv::get(&client, scope, key).await
    }

    async fn kv_set(
        &self,
        scope: &KvScope,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        kv::set(&client, scope, key, &value).await
    }

    async fn kv_delete(&self, scope: &KvScope, key: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        kv::delete(&client, scope, key).await
    }

    async fn kv_list(
        &self,
        scope: &KvScope,
        query: &KvQuery<'_>,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let client = self.client().await?;
        kv::list(&client, scope, query).await
    }

    async fn event_record(&self, event: NewEvent) -> Result<EventRecorded, StoreError> {
        let client = self.client().await?;
        kv::record_event(&client, &event).await
    }

    async fn plugin_metadata_put(&self, record: PluginMetadataRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        kv::metadata_put(&client, &record).await
    }

    async fn plugin_metadata_get(
        &self,
        plugin: &str,
    ) -> Result<Option<PluginMetadataRecord>, StoreError> {
        let client = self.client().await?;
        kv::metadata_get(&client, plugin).await
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreNotice> {
        self.notices.subscribe()
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(listener) = listener {
            listener.abort();
            // Aborted is the expected outcome; waiting makes sure its connection is gone.
            let _ = listener.await;
        }
        self.pool.close();
    }

    async fn plugin_get(&self, id: &str) -> Result<Option<InstalledPlugin>, StoreError> {
        let client = self.client().await?;
        plugins::get(&client, id).await
    }

    async fn plugin_list(&self) -> Result<Vec<InstalledPlugin>, StoreError> {
        let client = self.client().await?;
        plugins::list(&client).await
    }

    async fn plugin_put(&self, plugin: InstalledPlugin) -> Result<(), StoreError> {
        let client = self.client().await?;
        plugins::put(&client, &plugin).await
    }

    async fn plugin_remove(&self, removal: PluginRemoval) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        plugins::remove(&mut client, &removal).await
    }

    async fn plugin_lock_acquire(
        &self,
        plugin: &str,
        job: JobId,
    ) -> Result<LockOutcome, StoreError> {
        let client = self.client().await?;
        plugins::lock_acquire(&client, plugin, job).await
    }

    async fn plugin_lock_release(&self, plugin: &str, job: JobId) -> Result<(), StoreError> {
        let client = self.client().await?;
        plugins::lock_release(&client, plugin, job).await
    }

    async fn plugin_lock_holder(&self, plugin: &str) -> Result<Option<JobId>, StoreError> {
        let client = self.client().await?;
        plugins::lock_holder(&client, plugin).await
    }

    async fn package_put(&self, package: PackageRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        plugins::package_put(&client, &package).await
    }

    async fn package_get(
        &self,
        plugin: &str,
        version: &str,
    ) -> Result<Option<PackageRecord>, StoreError> {
        let client = self.client().await?;
        plugins::package_get(&client, plugin, version).await
    }

    async fn package_list(&self, plugin: &str) -> Result<Vec<PackageInfo>, StoreError> {
        let client = self.client().await?;
        plugins::package_list(&client, plugin).await
    }

    async fn package_delete(&self, plugin: &str, version: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        plugins::package_delete(&client, plugin, version).await
    }

    async fn tenant_create(&self, id: &str, name: &str) -> Result<Tenant, StoreError> {
        let client = self.client().await?;
        tenants::tenant_create(&client, id, name).await
    }

    async fn tenant_get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let client = self.client().await?;
        tenants::tenant_get(&client, id).await
    }

    async fn tenant_list(&self) -> Result<Vec<Tenant>, StoreError> {
        let client = self.client().await?;
        tenants::tenant_list(&client).await
    }

    async fn tenant_delete(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        tenants::tenant_delete(&client, id).await
    }

    async fn config_put(&self, put: ConfigPut) -> Result<Config, StoreError> {
        let client = self.client().await?;
        tenants::config_put(&client, &put).await
    }

    async fn config_get(&self, id: &str) -> Result<Option<Config>, StoreError> {
        let client = self.client().await?;
        tenants::config_get(&client, id).await
    }

    async fn config_find(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
    ) -> Result<Option<Config>, StoreError> {
        let client = self.client().await?;
        tenants::config_find(&client, tenant, plugin, name).await
    }

    async fn config_list(&self, filter: ConfigFilter) -> Result<Vec<Config>, StoreError> {
        let client = self.client().await?;
        tenants::config_list(&client, &filter).await
    }

    async fn config_delete(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        tenants::config_delete(&client, id).await
    }

    async fn minutes_add(&self, node: &str, counts: Vec<MinuteCounts>) -> Result<(), StoreError> {
        let client = self.client().await?;
        jobs::minutes_add(&client, node, &counts).await
    }

    async fn minutes_list(&self, since: Timestamp) -> Result<Vec<MinuteCounts>, StoreError> {
        let client = self.client().await?;
        jobs::minutes_list(&client, since).await
    }

    async fn minutes_prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        jobs::minutes_prune(&client, before).await
    }

    async fn webhook_put(&self, config_id: &str, secret_sha256: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        tenants::webhook_put(&client, config_id, secret_sha256).await
    }

    async fn webhook_get(&self, config_id: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        tenants::webhook_get(&client, config_id).await
    }

    async fn webhook_delete(&self, config_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        tenants::webhook_delete(&client, config_id).await
    }

    async fn config_set_invalid(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        tenants::config_set_invalid(&client, id, reason.as_deref()).await
    }

    async fn config_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Config>, StoreError> {
        let client = self.client().await?;
        tenants::config_due(&client, now, limit).await
    }

    async fn config_fire_many(
        &self,
        fires: Vec<ConfigFire>,
    ) -> Result<Vec<FireOutcome>, StoreError> {
        let mut client = self.client().await?;
        tenants::config_fire_many(&mut client, &self.channel, &fires).await
    }

    async fn config_subscribed(&self, tenant: &str) -> Result<Vec<Config>, StoreError> {
        let client = self.client().await?;
        tenants::config_subscribed(&client, tenant).await
    }

    async fn event_get(&self, id: i64) -> Result<Option<EventRecord>, StoreError> {
        let client = self.client().await?;
        tenants::event_get(&client, id).await
    }

    async fn event_list(&self, filter: EventFilter) -> Result<Vec<EventRecord>, StoreError> {
        let client = self.client().await?;
        tenants::event_list(&client, &filter).await
    }

    async fn event_mark_delivered(&self, id: i64, deliveries: i64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        tenants::event_mark_delivered(&client, id, deliveries).await
    }

    async fn event_prune(&self, created_before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        tenants::event_prune(&client, created_before).await
    }

    async fn token_create(&self, token: NewApiToken) -> Result<ApiToken, StoreError> {
        let client = self.client().await?;
        tokens::create(&client, &token).await
    }

    async fn token_find_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let client = self.client().await?;
        tokens::find_by_hash(&client, hash).await
    }

    async fn token_list(&self) -> Result<Vec<ApiToken>, StoreError> {
        let client = self.client().await?;
        tokens::list(&client).await
    }

    async fn token_revoke(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let client = self.client().await?;
        tokens::revoke(&client, id).await
    }

    async fn limit_put(&self, limit: JobLimit) -> Result<JobLimit, StoreError> {
        let mut client = self.client().await?;
        limits::put(&mut client, &limit).await?;
        *lock(&self.limits) = None;
        self.wake_claimers(&client).await;
        Ok(limit)
    }

    async fn limit_delete(&self, scope: LimitScope, name: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let deleted = limits::delete(&mut client, scope, name).await?;
        *lock(&self.limits) = None;
        self.wake_claimers(&client).await;
        Ok(deleted)
    }

    async fn limit_list(&self) -> Result<Vec<JobLimit>, StoreError> {
        let client = self.client().await?;
        limits::list(&client).await
    }

    async fn limit_usage(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> Result<Vec<LimitUsage>, StoreError> {
        let client = self.client().await?;
        limits::usage(&client, tenant, plugin).await
    }

    async fn config_create(&self, put: ConfigPut) -> Result<Config, StoreError> {
        let client = self.client().await?;
        tenants::config_create(&client, &put).await
    }

    async fn job_counts_by_kind(&self) -> Result<Vec<JobKindCount>, StoreError> {
        let client = self.client().await?;
        jobs::counts_by_kind(&client).await
    }

    async fn node_register(&self, node: NewNode) -> Result<Node, StoreError> {
        let client = self.client().await?;
        nodes::register(&client, &node).await
    }

    async fn node_heartbeat(&self, id: &str, plugins: Vec<String>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        nodes::heartbeat(&client, id, &plugins).await
    }

    async fn node_stop(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        nodes::stop(&client, id).await
    }

    async fn node_list(&self) -> Result<Vec<Node>, StoreError> {
        let client = self.client().await?;
        nodes::list(&client).await
    }

    async fn node_get(&self, id: &str) -> Result<Option<Node>, StoreError> {
        let client = self.client().await?;
        nodes::get(&client, id).await
    }

    async fn node_prune(&self, not_seen_for: Duration) -> Result<u64, StoreError> {
        let client = self.client().await?;
        nodes::prune(&client, not_seen_for).await
    }

    async fn job_changes(
        &self,
        after: ChangeCursor,
        filter: ChangeFilter,
        limit: usize,
    ) -> Result<Vec<JobChange>, StoreError> {
        let client = self.client().await?;
        jobs::changes(&client, after, &filter, limit).await
    }

    async fn job_change_head(&self) -> Result<ChangeCursor, StoreError> {
        let client = self.client().await?;
        jobs::change_head(&client).await
    }

    async fn upload_put(&self, name: &str, sha256: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let client = self.client().await?;
        plugins::upload_put(&client, name, sha256, &data).await
    }

    async fn upload_get(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        plugins::upload_get(&client, name).await
    }

    async fn upload_delete(&self, name: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        plugins::upload_delete(&client, name).await
    }

    async fn upload_prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        plugins::upload_prune(&client, before).await
    }
}
