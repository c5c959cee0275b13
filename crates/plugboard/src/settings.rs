//! Settings of `plugboard serve` and `plugboard bench` (not the tenants' plugin configs, which are
//! `tenants/`), from three sources with
//! one precedence: **flags, then environment variables, then the config file, then defaults**.
//!
//! The config file is TOML: `--config PATH` (env `PLUGBOARD_CONFIG`), or else `plugboard.toml`
//! in the data directory when it exists. Every key has a flag and an environment variable of the
//! same name (`lease_ms` is `--lease-ms` and `PLUGBOARD_LEASE_MS`); `docs/configuration.md`
//! lists them. Unknown keys are errors that name the file and line, so a typo never silently
//! falls back to a default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::plugins::identity::PluginUser;
use crate::plugins::package::PackageLimits;
use crate::queue::{PoolConfig, QueueConfig, RetryPolicy};
use crate::store::sqlite::Synchronous;

/// The data directory when none is given: `plugboard-data` in the working directory.
pub const DEFAULT_DATA_DIR: &str = "plugboard-data";

/// The settings as flags and environment variables (clap fills both; `None` = not given).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// Directory for the SQLite database and plugin data (created if missing) [default: ./plugboard-data]
    #[arg(long, env = "PLUGBOARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML config file [default: plugboard.toml in the data directory, if present]
    #[arg(long, env = "PLUGBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host:port/database); absent means SQLite in the data directory
    #[arg(long, env = "PLUGBOARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// PostgreSQL schema to keep plugboard's tables in (created if missing) [default: the server's search_path]
    #[arg(long, env = "PLUGBOARD_DATABASE_SCHEMA", value_name = "NAME")]
    pub database_schema: Option<String>,
    /// SQLite durability: `normal` survives a process crash, `full` also a power loss [default: normal]
    #[arg(long, env = "PLUGBOARD_SQLITE_SYNCHRONOUS", value_name = "MODE")]
    pub sqlite_synchronous: Option<Synchronous>,
    /// Address of the HTTP server [default: 127.0.0.1:7700]
    #[arg(long, env = "PLUGBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Queues this node works and their concurrency, as NAME=N,NAME=N [default: default=10]
    #[arg(long, env = "PLUGBOARD_QUEUES", value_name = "LIST")]
    pub queues: Option<String>,
    /// Jobs each queue claims beyond its concurrency (for many short jobs) [default: 0]
    #[arg(long, env = "PLUGBOARD_PREFETCH", value_name = "N")]
    pub prefetch: Option<usize>,
    /// How long a claimed job stays leased without a heartbeat, in ms [default: 15000]
    #[arg(long, env = "PLUGBOARD_LEASE_MS", value_name = "MS")]
    pub lease_ms: Option<u64>,
    /// How often leases of running jobs are renewed, in ms [default: a third of the lease]
    #[arg(long, env = "PLUGBOARD_HEARTBEAT_MS", value_name = "MS")]
    pub heartbeat_ms: Option<u64>,
    /// How often expired leases are rescued, in ms [default: 1000]
    #[arg(long, env = "PLUGBOARD_RESCUE_INTERVAL_MS", value_name = "MS")]
    pub rescue_interval_ms: Option<u64>,
    /// Fallback poll for new jobs when no notification arrives, in ms [default: 1000]
    #[arg(long, env = "PLUGBOARD_POLL_INTERVAL_MS", value_name = "MS")]
    pub poll_interval_ms: Option<u64>,
    /// Timeout of jobs that set none, in ms [default: 300000]
    #[arg(long, env = "PLUGBOARD_JOB_TIMEOUT_MS", value_name = "MS")]
    pub job_timeout_ms: Option<u64>,
    /// How long a cancelled running job may take to stop, in ms [default: 10000]
    #[arg(long, env = "PLUGBOARD_CANCEL_GRACE_MS", value_name = "MS")]
    pub cancel_grace_ms: Option<u64>,
    /// How long shutdown waits for running jobs before handing them back, in ms [default: 10000]
    #[arg(long, env = "PLUGBOARD_SHUTDOWN_GRACE_MS", value_name = "MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// First retry delay, doubled per attempt, in ms [default: 1000]
    #[arg(long, env = "PLUGBOARD_RETRY_BASE_MS", value_name = "MS")]
    pub retry_base_ms: Option<u64>,
    /// Longest retry delay, in ms [default: 3600000]
    #[arg(long, env = "PLUGBOARD_RETRY_MAX_MS", value_name = "MS")]
    pub retry_max_ms: Option<u64>,
    /// Finished jobs are deleted after this many hours; 0 keeps them [default: 168]
    #[arg(long, env = "PLUGBOARD_RETENTION_HOURS", value_name = "HOURS")]
    pub retention_hours: Option<u64>,
    /// At most this many finished jobs are kept; 0 means no limit [default: 0]
    #[arg(long, env = "PLUGBOARD_KEEP_FINISHED", value_name = "COUNT")]
    pub keep_finished: Option<u64>,
    /// The largest plugin package archive, downloaded or local, in MiB [default: 256]
    #[arg(long, env = "PLUGBOARD_PACKAGE_MAX_MB", value_name = "MIB")]
    pub package_max_mb: Option<u64>,
    /// The most a plugin package may unpack to, in MiB [default: 1024]
    #[arg(long, env = "PLUGBOARD_PACKAGE_MAX_UNPACKED_MB", value_name = "MIB")]
    pub package_max_unpacked_mb: Option<u64>,
    /// The most entries a plugin package may hold [default: 10000]
    #[arg(long, env = "PLUGBOARD_PACKAGE_MAX_FILES", value_name = "COUNT")]
    pub package_max_files: Option<u64>,
    /// How many versions of each plugin the store keeps for rollbacks and re-installs, the active and previous ones always among them; at least 2 [default: 5]
    #[arg(long, env = "PLUGBOARD_PACKAGE_KEEP_VERSIONS", value_name = "COUNT")]
    pub package_keep_versions: Option<u64>,
    /// How many times its archive a package may unpack to, once above 16 MiB [default: 200]
    #[arg(long, env = "PLUGBOARD_PACKAGE_MAX_RATIO", value_name = "RATIO")]
    pub package_max_ratio: Option<u64>,
    /// The longest a package download may take, in ms [default: 300000]
    #[arg(long, env = "PLUGBOARD_PACKAGE_DOWNLOAD_TIMEOUT_MS", value_name = "MS")]
    pub package_download_timeout_ms: Option<u64>,
    /// The longest a package download may go without receiving data, in ms [default: 30000]
    #[arg(long, env = "PLUGBOARD_PACKAGE_STALL_TIMEOUT_MS", value_name = "MS")]
    pub package_stall_timeout_ms: Option<u64>,
    /// How long runs on a replaced or disabled plugin version may take to finish before it is stopped, in ms [default: 30000]
    #[arg(long, env = "PLUGBOARD_PLUGIN_DRAIN_GRACE_MS", value_name = "MS")]
    pub plugin_drain_grace_ms: Option<u64>,
    /// How long a plugin process may take from its start to its answer to `initialize`, in ms [default: 10000]
    #[arg(long, env = "PLUGBOARD_PLUGIN_START_TIMEOUT_MS", value_name = "MS")]
    pub plugin_start_timeout_ms: Option<u64>,
    /// How often a node looks for plugin changes made by admin jobs on other nodes, in ms [default: 5000]
    #[arg(long, env = "PLUGBOARD_PLUGIN_SYNC_INTERVAL_MS", value_name = "MS")]
    pub plugin_sync_interval_ms: Option<u64>,
    /// Who plugins run as: `auto` (a user of its own per plugin when plugboard is root), a user name, UID[:GID], or `host` [default: auto]
    #[arg(long, env = "PLUGBOARD_PLUGIN_USER", value_name = "USER")]
    pub plugin_user: Option<String>,
    /// API requests a second each token may make, beyond the burst (a batch of jobs weighs one
    /// more for every 50 jobs); 0 turns the limit off [default: 25000]
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_PER_TOKEN", value_name = "N")]
    pub rate_limit_per_token: Option<u32>,
    /// API requests a second each client address may make without a valid token (sign-in codes,
    /// wrong or missing tokens), beyond the burst; 0 turns the limit off [default: 100]
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_PER_ADDRESS", value_name = "N")]
    pub rate_limit_per_address: Option<u32>,
    /// How many API requests a token or address may send at once above its rate; 0: one
    /// second's worth of each limit's rate [default: 0]
    #[arg(long, env = "PLUGBOARD_RATE_LIMIT_BURST", value_name = "N")]
    pub rate_limit_burst: Option<u32>,
    /// The largest API request body, in KiB (plugin uploads excepted) [default: 1024]
    #[arg(long, env = "PLUGBOARD_API_BODY_LIMIT_KB", value_name = "KIB")]
    pub api_body_limit_kb: Option<u64>,
    /// The largest request body a plugin route accepts, in MiB; larger ones answer `413` before the plugin sees a byte [default: 10]
    #[arg(long, env = "PLUGBOARD_ROUTE_MAX_BODY_MB", value_name = "MIB")]
    pub route_max_body_mb: Option<u64>,
    /// How long a plugin may take to answer a request to one of its routes, in ms; then `504` and the request is cancelled in the plugin [default: 30000]
    #[arg(long, env = "PLUGBOARD_ROUTE_TIMEOUT_MS", value_name = "MS")]
    pub route_timeout_ms: Option<u64>,
    /// Serve the admin console from this folder (a `web/` build) instead of the copy compiled into the binary; for working on the console [default: the compiled copy]
    #[arg(long, env = "PLUGBOARD_CONSOLE_DIR", value_name = "DIR")]
    pub console_dir: Option<PathBuf>,
    /// Live streams (SSE and WebSocket) each API token may hold open at once; 0 turns the cap off [default: 64]
    #[arg(long, env = "PLUGBOARD_STREAM_MAX_PER_TOKEN", value_name = "N")]
    pub stream_max_per_token: Option<u32>,
    /// Live streams each client address may hold open at once (the admin token excepted); 0 turns the cap off [default: 128]
    #[arg(long, env = "PLUGBOARD_STREAM_MAX_PER_ADDRESS", value_name = "N")]
    pub stream_max_per_address: Option<u32>,
    /// Live streams open at once on this node, all callers together; never more than half the open-file limit [default: 4096]
    #[arg(long, env = "PLUGBOARD_STREAM_MAX_TOTAL", value_name = "N")]
    pub stream_max_total: Option<u32>,
}

/// The config file's keys: the same names as the flags, with `-` as `_`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_schema: Option<String>,
    sqlite_synchronous: Option<Synchronous>,
    listen: Option<String>,
    queues: Option<String>,
    plugins: Option<Vec<PathBuf>>,
    prefetch: Option<usize>,
    lease_ms: Option<u64>,
    heartbeat_ms: Option<u64>,
    rescue_interval_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
    job_timeout_ms: Option<u64>,
    cancel_grace_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    retention_hours: Option<u64>,
    keep_finished: Option<u64>,
    package_max_mb: Option<u64>,
    package_max_unpacked_mb: Option<u64>,
    package_max_files: Option<u64>,
    package_keep_versions: Option<u64>,
    package_max_ratio: Option<u64>,
    package_download_timeout_ms: Option<u64>,
    package_stall_timeout_ms: Option<u64>,
    plugin_drain_grace_ms: Option<u64>,
    plugin_start_timeout_ms: Option<u64>,
    plugin_sync_interval_ms: Option<u64>,
    plugin_user: Option<String>,
    rate_limit_per_token: Option<u32>,
    rate_limit_per_address: Option<u32>,
    rate_limit_burst: Option<u32>,
    api_body_limit_kb: Option<u64>,
    route_max_body_mb: Option<u64>,
    route_timeout_ms: Option<u64>,
    console_dir: Option<PathBuf>,
    stream_max_per_token: Option<u32>,
    stream_max_per_address: Option<u32>,
    stream_max_total: Option<u32>,
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite {
        path: PathBuf,
        synchronous: Synchronous,
    },
    Postgres {
        url: String,
        schema: Option<String>,
    },
}

/// Every setting, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    pub database: Database,
    pub listen: String,
    pub queues: Vec<QueueConfig>,
    /// Plugin package folders loaded at start (config key `plugins`; `serve --plugin` replaces
    /// the list).
    pub plugins: Vec<PathBuf>,
    pub prefetch: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub rescue_interval: Duration,
    pub poll_interval: Duration,
    pub job_timeout: Duration,
    pub cancel_grace: Duration,
    pub shutdown_grace: Duration,
    pub retry: RetryPolicy,
    pub retention: Option<Duration>,
    pub keep_finished: Option<u64>,
    /// Limits of plugin packages (`package_*`).
    pub packages: PackageLimits,
    /// `package_keep_versions`.
    pub package_keep_versions: usize,
    /// `plugin_drain_grace_ms`.
    pub plugin_drain_grace: Duration,
    /// `plugin_start_timeout_ms`.
    pub plugin_start_timeout: Duration,
    /// `plugin_sync_interval_ms`.
    pub plugin_sync_interval: Duration,
    /// `plugin_user`.
    pub plugin_user: PluginUser,
    /// `rate_limit_*`.
    pub rate_limits: RateLimitSettings,
    /// `api_body_limit_kb`, in bytes.
    pub api_body_limit: usize,
    /// `route_max_body_mb`, in bytes.
    pub route_max_body: usize,
    /// `route_timeout_ms`.
    pub route_timeout: Duration,
    /// `console_dir`: `None` serves the console compiled into the binary.
    pub console_dir: Option<PathBuf>,
    /// `stream_max_*`.
    pub stream_limits: StreamLimitSettings,
    /// `PLUGBOARD_ADMIN_TOKEN`, from the environment only (never a flag, which `ps` shows to
    /// every user, nor the config file). `serve` checks it and makes one when it is absent.
    pub admin_token: Option<String>,
}

/// Rate limits of the API: a token bucket per token and one per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests a second per token; 0: no limit.
    pub per_token: u32,
    /// Requests a second per client address; 0: no limit.
    pub per_address: u32,
    /// Bucket size: requests allowed at once above the rate; 0: one second's worth of the rate.
    pub burst: u32,
}

/// Caps on the live streams (SSE and WebSocket) of the API; a stream over a cap is refused with
/// `429`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimitSettings {
    /// Streams per API token; 0: no cap. The admin token is counted only in `total`.
    pub per_token: u32,
    /// Streams per client address; 0: no cap. The admin token is counted only in `total`.
    pub per_address: u32,
    /// Streams on this node, every caller together. `serve` lowers it to half the open-file
    /// limit, so that requests that are not streams always find a file descriptor.
    pub total: u32,
}

impl Default for StreamLimitSettings {
    fn default() -> StreamLimitSettings {
        StreamLimitSettings {
            per_token: 64,
            per_address: 128,
            total: 4096,
        }
    }
}

impl Settings {
    /// Resolves the settings: flags and environment (already merged by clap), then the file.
    ///
    /// # Errors
    /// A config file that cannot be read or has unknown keys or wrong types (the message names
    /// the file and line), and values out of range.
    pub fn resolve(args: &SettingsArgs) -> anyhow::Result<Settings> {
        let explicit_file = args.config.clone();
        let default_data_dir = PathBuf::from(DEFAULT_DATA_DIR);
        let probe_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| default_data_dir.clone());
        let config_file = match explicit_file {
            Some(path) => Some(path),
            None => {
                let candidate = probe_dir.join("plugboard.toml");
                candidate.is_file().then_some(candidate)
            }
        };
        let file = match &config_file {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or(default_data_dir);
        let database = match args.database_url.clone().or(file.database_url.clone()) {
            Some(url) => Database::Postgres {
                url,
                schema: args
                    .database_schema
                    .clone()
                    .or(file.database_schema.clone()),
            },
            None => Database::Sqlite {
                path: data_dir.join("plugboard.db"),
                synchronous: args
                    .sqlite_synchronous
                    .or(file.sqlite_synchronous)
                    .unwrap_or_default(),
            },
        };
        let queues = match args.queues.as_ref().or(file.queues.as_ref()) {
            Some(list) => parse_queue_list(list)?,
            None => vec![QueueConfig {
                name: "default".to_owned(),
                concurrency: 10,
            }],
        };
        let ms = |flag: Option<u64>, from_file: Option<u64>, default: u64| {
            Duration::from_millis(flag.or(from_file).unwrap_or(default))
        };
        let lease = ms(args.lease_ms, file.lease_ms, 15_000);
        let heartbeat = args
            .heartbeat_ms
            .or(file.heartbeat_ms)
            .map(Duration::from_millis)
            .unwrap_or(lease / 3);
        if lease.is_zero() || heartbeat.is_zero() || heartbeat >= lease {
            bail!(
                "the heartbeat ({} ms) must be positive and shorter than the lease ({} ms); a third of the lease is a good choice",
                heartbeat.as_millis(),
                lease.as_millis()
            );
        }
        let package_keep_versions = args
            .package_keep_versions
            .or(file.package_keep_versions)
            .unwrap_or(5);
        if package_keep_versions < 2 {
            bail!(
                "package_keep_versions is {package_keep_versions} and must be at least 2: the active version and the one a rollback returns to"
            );
        }
        let package_keep_versions = usize::try_from(package_keep_versions).unwrap_or(usize::MAX);
        let plugin_user: PluginUser = match args.plugin_user.as_ref().or(file.plugin_user.as_ref())
        {
            Some(text) => text.parse().map_err(anyhow::Error::msg)?,
            None => PluginUser::Auto,
        };
        let retention_hours = args.retention_hours.or(file.retention_hours).unwrap_or(168);
        let keep_finished = args.keep_finished.or(file.keep_finished).unwrap_or(0);
        let settings = Settings {
            data_dir,
            config_file,
            database,
            listen: args
                .listen
                .clone()
                .or(file.listen.clone())
                .unwrap_or_else(|| "127.0.0.1:7700".to_owned()),
            queues,
            plugins: file.plugins.clone().unwrap_or_default(),
            prefetch: args.prefetch.or(file.prefetch).unwrap_or(0),
            lease,
            heartbeat,
            rescue_interval: ms(args.rescue_interval_ms, file.rescue_interval_ms, 1_000),
            poll_interval: ms(args.poll_interval_ms, file.poll_interval_ms, 1_000),
            job_timeout: ms(args.job_timeout_ms, file.job_timeout_ms, 300_000),
            cancel_grace: ms(args.cancel_grace_ms, file.cancel_grace_ms, 10_000),
            shutdown_grace: ms(args.shutdown_grace_ms, file.shutdown_grace_ms, 10_000),
            retry: RetryPolicy {
                base: ms(args.retry_base_ms, file.retry_base_ms, 1_000),
                max: ms(args.retry_max_ms, file.retry_max_ms, 3_600_000),
            },
            retention: (retention_hours > 0).then(|| Duration::from_secs(retention_hours * 3600)),
            keep_finished: (keep_finished > 0).then_some(keep_finished),
            packages: {
                let defaults = PackageLimits::default();
                let mib = |flag: Option<u64>, from_file: Option<u64>, default: u64| {
                    flag.or(from_file)
                        .map(|mib| mib.saturating_mul(1024 * 1024))
                        .unwrap_or(default)
                };
                PackageLimits {
                    max_archive_bytes: mib(
                        args.package_max_mb,
                        file.package_max_mb,
                        defaults.max_archive_bytes,
                    ),
                    max_unpacked_bytes: mib(
                        args.package_max_unpacked_mb,
                        file.package_max_unpacked_mb,
                        defaults.max_unpacked_bytes,
                    ),
                    max_files: args
                        .package_max_files
                        .or(file.package_max_files)
                        .unwrap_or(defaults.max_files),
                    max_ratio: args
                        .package_max_ratio
                        .or(file.package_max_ratio)
                        .unwrap_or(defaults.max_ratio),
                    download_timeout: ms(
                        args.package_download_timeout_ms,
                        file.package_download_timeout_ms,
                        300_000,
                    ),
                    stall_timeout: ms(
                        args.package_stall_timeout_ms,
                        file.package_stall_timeout_ms,
                        30_000,
                    ),
                }
            },
            plugin_drain_grace: ms(
                args.plugin_drain_grace_ms,
                file.plugin_drain_grace_ms,
                30_000,
            ),
            package_keep_versions,
            plugin_start_timeout: ms(
                args.plugin_start_timeout_ms,
                file.plugin_start_timeout_ms,
                10_000,
            ),
            plugin_sync_interval: ms(
                args.plugin_sync_interval_ms,
                file.plugin_sync_interval_ms,
                5_000,
            ),
            plugin_user,
            rate_limits: RateLimitSettings {
                per_token: args
                    .rate_limit_per_token
                    .or(file.rate_limit_per_token)
                    .unwrap_or(25_000),
                per_address: args
                    .rate_limit_per_address
                    .or(file.rate_limit_per_address)
                    .unwrap_or(100),
                burst: args.rate_limit_burst.or(file.rate_limit_burst).unwrap_or(0),
            },
            api_body_limit: usize::try_from(
                args.api_body_limit_kb
                    .or(file.api_body_limit_kb)
                    .unwrap_or(1024)
                    .max(1)
                    .saturating_mul(1024),
            )
            .unwrap_or(usize::MAX),
            route_max_body: usize::try_from(
                args.route_max_body_mb
                    .or(file.route_max_body_mb)
                    .unwrap_or(10)
                    .max(1)
                    .saturating_mul(1024 * 1024),
            )
            .unwrap_or(usize::MAX),
            route_timeout: ms(args.route_timeout_ms, file.route_timeout_ms, 30_000),
            console_dir: args.console_dir.clone().or(file.console_dir.clone()),
            stream_limits: StreamLimitSettings {
                per_token: args
                    .stream_max_per_token
                    .or(file.stream_max_per_token)
                    .unwrap_or(StreamLimitSettings::default().per_token),
                per_address: args
                    .stream_max_per_address
                    .or(file.stream_max_per_address)
                    .unwrap_or(StreamLimitSettings::default().per_address),
                total: args
                    .stream_max_total
                    .or(file.stream_max_total)
                    .unwrap_or(StreamLimitSettings::default().total),
            },
            admin_token: std::env::var("PLUGBOARD_ADMIN_TOKEN")
                .ok()
                .filter(|token| !token.is_empty()),
        };
        for (name, value) in [
            ("rescue_interval_ms", settings.rescue_interval),
            ("poll_interval_ms", settings.poll_interval),
            ("job_timeout_ms", settings.job_timeout),
            (
                "package_download_timeout_ms",
                settings.packages.download_timeout,
            ),
            ("package_stall_timeout_ms", settings.packages.stall_timeout),
            ("route_timeout_ms", settings.route_timeout),
            ("plugin_start_timeout_ms", settings.plugin_start_timeout),
        ] {
            if value.is_zero() {
                bail!("{name} must be above 0");
            }
        }
        Ok(settings)
    }

    /// The worker pool configuration these settings describe, for a pool named `worker_id`.
    pub fn pool_config(&self, worker_id: String) -> PoolConfig {
        let mut config = PoolConfig::new(worker_id);
        config.queues = self.queues.clone();
        config.prefetch = self.prefetch;
        config.lease = self.lease;
        config.heartbeat_interval = self.heartbeat;
        config.rescue_interval = self.rescue_interval;
        config.poll_interval = self.poll_interval;
        config.default_timeout = self.job_timeout;
        config.cancel_grace = self.cancel_grace;
        config.shutdown_grace = self.shutdown_grace;
        config.retry = self.retry;
        config.retention = self.retention;
        config.keep_last = self.keep_finished;
        config
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let place = match line {
            Some(line) => format!("{}, line {line}", path.display()),
            None => path.display().to_string(),
        };
        anyhow::anyhow!("invalid config file {place}: {}", error.message())
    })
}

fn parse_queue_list(list: &str) -> anyhow::Result<Vec<QueueConfig>> {
    let mut queues = Vec::new();
    for item in list
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let Some((name, concurrency)) = item.split_once('=') else {
            bail!("invalid queue `{item}` in queues; write NAME=CONCURRENCY, for example default=10,mail=2");
        };
        let concurrency: usize = concurrency.trim().parse().ok().filter(|n| *n > 0).with_context(|| {
            format!("invalid concurrency `{concurrency}` for queue `{name}`; use a whole number above 0")
        })?;
        let name = name.trim();
        if let Err(reason) = crate::queue::check_queue_name(name) {
            bail!("invalid queue name in queues: {reason}");
        }
        if queues.iter().any(|queue: &QueueConfig| queue.name == name) {
            bail!("queue `{name}` is named twice in queues");
        }
        queues.push(QueueConfig {
            name: name.to_owned(),
            concurrency,
        });
    }
    if queues.is_empty() {
        bail!("queues names no queue; write NAME=CONCURRENCY, for example default=10");
    }
    Ok(queues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, SettingsArgs) {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("plugboard.toml"), text).unwrap();
        let args = SettingsArgs {
            data_dir: Some(directory.path().to_path_buf()),
            ..SettingsArgs::default()
        };
        (directory, args)
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let (_directory, mut args) =
            with_file("lease_ms = 9000\nretry_base_ms = 5\nqueues = \"mail=2\"\n");
        args.lease_ms = Some(3000);
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.lease, Duration::from_millis(3000));
        assert_eq!(settings.heartbeat, Duration::from_millis(1000));
        assert_eq!(settings.retry.base, Duration::from_millis(5));
        assert_eq!(
            settings.queues,
            vec![QueueConfig {
                name: "mail".into(),
                concurrency: 2
            }]
        );
        assert_eq!(settings.listen, "127.0.0.1:7700");
        assert!(matches!(settings.database, Database::Sqlite { .. }));
    }

    #[test]
    fn stream_caps_default_to_64_128_4096_and_follow_the_file_and_flags() {
        let (_directory, args) = with_file("");
        assert_eq!(
            Settings::resolve(&args).unwrap().stream_limits,
            StreamLimitSettings {
                per_token: 64,
                per_address: 128,
                total: 4096
            }
        );
        let (_directory, mut args) = with_file(
            "stream_max_per_token = 5\nstream_max_per_address = 0\nstream_max_total = 100\n",
        );
        args.stream_max_total = Some(50);
        assert_eq!(
            Settings::resolve(&args).unwrap().stream_limits,
            StreamLimitSettings {
                per_token: 5,
                per_address: 0,
                total: 50
            }
        );
    }

    #[test]
    fn a_typo_in_the_file_names_the_line() {
        let (_directory, args) = with_file("lease_ms = 9000\n\nleese_ms = 3\n");
        let error = Settings::resolve(&args).unwrap_err().to_string();
        assert!(error.contains("plugboard.toml, line 3"), "{error}");
        assert!(error.contains("unknown field `leese_ms`"), "{error}");
        let (_directory, args) = with_file("lease_ms = \"long\"\n");
        let error = Settings::resolve(&args).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn bad_values_are_refused() {
        let args = SettingsArgs {
            queues: Some("default=0".into()),
            ..SettingsArgs::default()
        };
        assert!(Settings::resolve(&args)
            .unwrap_err()
            .to_string()
            .contains("invalid concurrency `0`"));
        let args = SettingsArgs {
            lease_ms: Some(100),
            heartbeat_ms: Some(200),
            ..SettingsArgs::default()
        };
        assert!(Settings::resolve(&args)
            .unwrap_err()
            .to_string()
            .contains("shorter than the lease"));
    }
}
