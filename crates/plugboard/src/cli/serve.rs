//! `plugboard serve`: the store, the worker pool, this node's presence in the nodes table and
//! the HTTP endpoints, until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use super::local_plugins::HostPlugins;
use crate::api::{AdminToken, ApiParams, LocalNode, ADMIN_TOKEN_MIN_LEN};
use crate::events::Events;
use crate::nodes::Presence;
use crate::plugins::confinement::Confinement;
use crate::plugins::host::PluginHost;
use crate::plugins::installer::{self, Installer, InstallerConfig};
use crate::plugins::protections::Protections;
use crate::plugins::run::{PluginRun, PLUGIN_RUN};
use crate::plugins::supervisor::SupervisorConfig;
use crate::plugins::tool::{PluginTool, PLUGIN_TOOL};
use crate::queue::{Queue, Registry, WorkerPool};
use crate::schedule::{Scheduler, SchedulerConfig, SystemClock};
use crate::settings::{Database, SettingsArgs};
use crate::store::{NewNode, NodeQueue};
use crate::tenants::run::SecretsOpened;
use crate::tenants::{SecretKey, Tenants};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Plugin package folders to load at start (repeat the flag, or separate with commas);
    /// replaces the config file's `plugins`
    #[arg(
        long = "plugin",
        env = "PLUGBOARD_PLUGINS",
        value_name = "DIR",
        value_delimiter = ','
    )]
    pub plugins: Vec<std::path::PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    let (mut settings, store) = crate::runtime::settings_and_store(&args.settings).await?;
    if !args.plugins.is_empty() {
        settings.plugins = args.plugins.clone();
    }
    match &settings.database {
        Database::Sqlite { path, synchronous } => {
            tracing::info!(path = %path.display(), ?synchronous, "store: SQLite");
        }
        Database::Postgres { url, schema } => {
            tracing::info!(url = %crate::runtime::redact_url(url), schema = ?schema, "store: PostgreSQL");
        }
    }
    if let Some(file) = &settings.config_file {
        tracing::info!(file = %file.display(), "config file read");
    }
    let admin_token = admin_token(&settings)?;
    // Before anything opens files: every descriptor the hard limit allows is available.
    let stream_limits = stream_limits(settings.stream_limits);
    // Absolute: plugins run in their package folder, so a relative data directory would point
    // somewhere else for them.
    let plugin_data = std::path::absolute(settings.data_dir.join("plugin-data"))
        .context("resolving the plugins' data directory")?;
    prepare_plugin_data(&plugin_data)?;
    // Plugins run as other users; nothing of the host's own memory or environment is theirs to
    // read, even where a kernel check would let a process of the same user through.
    if let Err(error) = crate::plugins::privileges::make_host_undumpable() {
        tracing::warn!("cannot mark plugboard not dumpable: {error}");
    }
    let confinement = Arc::new(Confinement::new(
        settings.plugin_user.clone(),
        Some(plugin_data.join(".users")),
    ));
    let protections = Protections::probe(&confinement);
    protections.log_missing();
    let plugin_host = PluginHost::new(
        store.clone(),
        plugin_data,
        SupervisorConfig {
            confinement: confinement.clone(),
            handshake_timeout: settings.plugin_start_timeout,
            ..SupervisorConfig::default()
        },
    );
    for directory in &settings.plugins {
        plugin_host
            .load(directory)
            .with_context(|| format!("loading the plugin in {}", directory.display()))?;
    }
    // Installed plugins: the registry in the store says what should run; reconcile brings the
    // disk and the processes in line before any job is taken.
    let plugins_dir = std::path::absolute(settings.data_dir.join("plugins"))
        .context("resolving the installed plugins' directory")?;
    prepare_plugin_data(&plugins_dir)?;
    let uploads = crate::api::UploadParams {
        dir: installer::uploads_dir(&plugins_dir),
        max_bytes: settings.packages.max_archive_bytes,
    };
    let installer = Arc::new(Installer::new(
        store.clone(),
        plugin_host.clone(),
        InstallerConfig {
            plugins_dir,
            limits: settings.packages.clone(),
            drain_grace: settings.plugin_drain_grace,
            keep_versions: settings.package_keep_versions,
        },
    ));
    let report = installer
        .reconcile()
        .await
        .context("reconciling the installed plugins with the registry")?;
    tracing::info!(
        started = ?report.started,
        rolled_back = ?report.rolled_back,
        failed = ?report.failed,
        removed_folders = ?report.removed_folders,
        "installed plugins reconciled"
    );
    let secret_key =
        SecretKey::load(&settings.data_dir).context("loading the key that seals config secrets")?;
    if matches!(settings.database, Database::Postgres { .. })
        && std::env::var(crate::tenants::secrets::SECRET_KEY_VARIABLE).is_err()
    {
        tracing::warn!("{} is not set: this node seals and opens config secrets with its own data directory's key; give every node the same key", crate::tenants::secrets::SECRET_KEY_VARIABLE);
    }
    let mut registry = Registry::with_builtin_kinds();
    registry.register(
        PLUGIN_RUN,
        SecretsOpened::new(PluginRun::new(plugin_host.clone()), secret_key.clone()),
    );
    registry.register(PLUGIN_TOOL, PluginTool::new(plugin_host.clone()));
    installer::register(&mut registry, Some(installer.clone()));
    let registry = Arc::new(registry);
    let queue = Queue::new(store.clone(), registry.clone());
    let pool = WorkerPool::start(
        store.clone(),
        registry,
        settings.pool_config(crate::runtime::worker_id()),
    );
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another server using it? choose another with --listen",
                settings.listen
            )
        })?;
    let address = listener
        .local_addr()
        .context("reading the listening address")?;
    let http_stop = tokio_util::sync::CancellationToken::new();
    let probe_queue = settings
        .queues
        .first()
        .map(|queue| queue.name.clone())
        .unwrap_or_else(|| "default".to_owned());
    // Schedules, event fan-outs left undone, and schema changes: every node runs all three;
    // the store makes each fire and each delivery happen once.
    let background_stop = tokio_util::sync::CancellationToken::new();
    let background = [
        Scheduler::new(
            store.clone(),
            Arc::new(SystemClock),
            SchedulerConfig {
                queue: probe_queue.clone(),
                ..SchedulerConfig::default()
            },
        )
        .start(background_stop.clone()),
        Events::new(store.clone()).start(
            Duration::from_secs(1),
            settings
                .retention
                .unwrap_or(Duration::from_secs(7 * 24 * 3600)),
            background_stop.clone(),
        ),
        Tenants::new(store.clone(), secret_key.clone()).watch_schemas(
            plugin_host.ids(),
            Duration::from_secs(2),
            background_stop.clone(),
        ),
        // Admin actions that ran on another node reach this one within seconds.
        installer.converge_every(settings.plugin_sync_interval, background_stop.clone()),
        // The console's charts: finished jobs per minute.
        crate::queue::keep_minutes(
            store.clone(),
            pool.worker_id().to_owned(),
            pool.stats(),
            Duration::from_secs(10),
            background_stop.clone(),
        ),
    ];
    // This node in the nodes table: registered before it answers, heartbeating with the leases'
    // interval, marked stopped at a clean shutdown.
    let loaded_plugins = plugin_host.clone();
    let presence = Presence::start(
        store.clone(),
        NewNode {
            id: pool.worker_id().to_owned(),
            hostname: crate::runtime::hostname(),
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            listen: address.to_string(),
            queues: settings
                .queues
                .iter()
                .map(|queue| NodeQueue {
                    name: queue.name.clone(),
                    concurrency: queue.concurrency,
                })
                .collect(),
            plugins: plugin_host.ids(),
            heartbeat_ms: i64::try_from(settings.heartbeat.as_millis()).unwrap_or(i64::MAX),
        },
        Arc::new(move || loaded_plugins.ids()),
    )
    .await
    .context("registering this node in the store")?;
    let sign_in = crate::api::SignInCodes::new();
    let console_link = console_link(address, &sign_in.mint());
    let api = ApiParams {
        queue,
        probe_queue,
        sandbox: protections.health_check(),
        admin_token,
        rate_limits: settings.rate_limits,
        stream_limits,
        body_limit: settings.api_body_limit,
        routes: crate::api::RouteLimits {
            max_body: settings.route_max_body,
            timeout: settings.route_timeout,
        },
        secret_key,
        uploads,
        local: LocalNode {
            node_id: Some(pool.worker_id().to_owned()),
            workers: Some(pool.stats()),
            plugins: Some(Arc::new(HostPlugins(plugin_host.clone()))),
        },
        sign_in: sign_in.clone(),
        console_dir: settings.console_dir.clone(),
    };
    // The handlers go in before the line that says the server runs: a signal sent as soon as
    // it is read must stop the server cleanly, not kill it.
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let http = tokio::spawn(crate::api::serve(listener, api, http_stop.clone()));
    let announcement = super::local_server::Announcement::write(&settings.data_dir, address)?;
    tracing::info!(%address, worker = %pool.worker_id(), "plugboard is running; press Ctrl-C to stop");
    // On stdout, where a person (and the demo) reads it; the code works once, for 15 minutes.
    println!("console: {console_link}  (one-time sign-in link, valid 15 minutes; `plugboard console-link` makes another)");

    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down (press Ctrl-C again to stop at once)"),
    }
    announcement.remove();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::warn!("second signal: stopping at once; running jobs will be rescued when their leases expire");
        std::process::exit(130);
    });
    http_stop.cancel();
    background_stop.cancel();
    for task in background {
        let _ = task.await;
    }
    pool.shutdown().await;
    presence.stop().await;
    plugin_host.stop_all().await;
    confinement.remove_cgroups().await;
    // Open streams ended with the stop; a client that holds its connection open anyway gets
    // a few seconds before the server lets go of it.
    if tokio::time::timeout(std::time::Duration::from_secs(5), http)
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open 5 s after the stop were dropped");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(0)
}

/// The console's one-time sign-in link on this node's address (the loopback address when it
/// listens on every interface).
fn console_link(address: std::net::SocketAddr, code: &str) -> String {
    let mut reachable = address;
    if reachable.ip().is_unspecified() {
        reachable.set_ip(match reachable.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{reachable}{}", crate::api::sign_in_path(code))
}

/// Raises the soft limit on open files to the hard limit and keeps the streams' total cap at
/// half of it, so that requests that are not streams (the admin's, the probes') always find a
/// file descriptor. Says what it did in the log.
fn stream_limits(
    mut limits: crate::settings::StreamLimitSettings,
) -> crate::settings::StreamLimitSettings {
    let open_files = match raise_open_file_limit() {
        Ok(OpenFileLimit { before, after }) => {
            if after > before {
                tracing::info!(
                    before,
                    after,
                    "raised the open-file limit (RLIMIT_NOFILE) to its hard limit"
                );
            } else {
                tracing::info!(limit = after, "open-file limit (RLIMIT_NOFILE)");
            }
            after
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open-file limit (RLIMIT_NOFILE); streams are capped by stream_max_total alone");
            return limits;
        }
    };
    let half = u32::try_from(open_files / 2).unwrap_or(u32::MAX);
    if limits.total > half {
        tracing::warn!(
            stream_max_total = limits.total,
            open_file_limit = open_files,
            streams = half,
            "live streams are capped at half the open-file limit; raise the hard limit (for example LimitNOFILE= in the systemd unit, or ulimit -Hn) to allow stream_max_total"
        );
        limits.total = half;
    }
    limits
}

/// The soft limit on open files before and after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenFileLimit {
    before: u64,
    after: u64,
}

/// Raises the soft `RLIMIT_NOFILE` of this process to its hard limit.
fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(OpenFileLimit {
        before,
        after: limit.rlim_cur,
    })
}

/// Creates a folder of the data directory that plugins' users pass through to their own
/// folders (mode 0711: no one but plugboard lists it).
fn prepare_plugin_data(directory: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(directory).with_context(|| {
        format!(
            "cannot create the plugins' folder {}; check the permissions of --data-dir",
            directory.display()
        )
    })?;
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o711)).with_context(|| {
        format!(
            "cannot close the plugins' folder {} to other users (mode 0711)",
            directory.display()
        )
    })
}

/// The file in the data directory that holds the admin token `serve` made.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The admin token: `PLUGBOARD_ADMIN_TOKEN` when set (refused when shorter than 32 characters);
/// otherwise the one in `DATA_DIR/admin-token`, made on the first start (readable by this user
/// only) and its path logged.
fn admin_token(settings: &crate::settings::Settings) -> anyhow::Result<AdminToken> {
    if let Some(token) = &settings.admin_token {
        return AdminToken::new(token).map_err(anyhow::Error::msg);
    }
    let path = settings.data_dir.join(ADMIN_TOKEN_FILE);
    crate::runtime::prepare_data_dir(&settings.data_dir)?;
    match std::fs::read_to_string(&path) {
        Ok(token) => {
            let token = token.trim();
            let token = AdminToken::new(token).map_err(|_| {
                anyhow::anyhow!(
                    "{} holds a token shorter than {ADMIN_TOKEN_MIN_LEN} characters; delete the file to have a new one made, or set PLUGBOARD_ADMIN_TOKEN",
                    path.display()
                )
            })?;
            tracing::info!(file = %path.display(), "PLUGBOARD_ADMIN_TOKEN is not set; using the admin token kept in the data directory");
            Ok(token)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let token = crate::api::mint_secret("pb_admin_");
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            if matches!(&opened, Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists) {
                // Another serve on this data directory made it first: use that one.
                return admin_token(settings);
            }
            let mut file = opened.with_context(|| {
                    format!(
                        "cannot create {} for the admin token; check the permissions of the data directory, or set PLUGBOARD_ADMIN_TOKEN",
                        path.display()
                    )
                })?;
            file.write_all(format!("{token}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the admin token to {}", path.display()))?;
            tracing::warn!(file = %path.display(), "PLUGBOARD_ADMIN_TOKEN is not set; made an admin token and saved it (readable by this user only); send it as `Authorization: Bearer $(cat FILE)`");
            AdminToken::new(&token).map_err(anyhow::Error::msg)
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot read the admin token in {}; fix its permissions, or set PLUGBOARD_ADMIN_TOKEN",
                path.display()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let raised = raise_open_file_limit().expect("RLIMIT_NOFILE can be read and raised");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(raised.after, limit.rlim_max);
        assert!(raised.before <= raised.after);
    }

    #[test]
    fn the_stream_total_is_at_most_half_the_open_file_limit() {
        let limits = stream_limits(crate::settings::StreamLimitSettings {
            per_token: 64,
            per_address: 128,
            total: u32::MAX,
        });
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(
            u64::from(limits.total),
            (limit.rlim_cur / 2).min(u64::from(u32::MAX))
        );
        assert_eq!((limits.per_token, limits.per_address), (64, 128));
    }
}
