//! The `plugboard` command line: argument definitions and one file per subcommand.
//!
//! Owns: parsing flags (with their environment variables), turning settings into a running
//! store, exit codes and what a person sees. Must not touch: SQL, job rules (it calls `queue/`).
//!
//! `job`, `plugin`, `tenant`, `config` and `event` call the server's API when a server is named
//! (`--url`, `PLUGBOARD_URL`, or a profile: `client.rs`, `profile.rs`, one `*_remote.rs` per
//! group); without one they open the store directly, so they must run on a machine that reaches
//! the same data directory or PostgreSQL database as the server. `token` exists only over the
//! API.

mod client;
mod completions;
mod config;
mod config_check_remote;
mod config_remote;
mod console_link;
mod doctor;
mod follow;
mod job;
mod job_import;
mod job_remote;
mod job_watch;
mod limit;
mod local_plugins;
mod login;
mod node;
mod output;
mod plugin;
mod plugin_check;
mod plugin_new;
mod plugin_pack;
mod plugin_remote;
mod profile;
mod serve;
mod tenant;
mod tenant_remote;
mod token;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::bench::BenchCommand;
use crate::config::{Database, Settings, SettingsArgs};
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::Store;

/// plugboard: a plugin host and persistent job engine.
///
/// Runs plugins' work and the admin's actions as jobs in one persistent queue, on an embedded
/// SQLite file (the default: nothing else to install) or on a PostgreSQL shared by several nodes.
///
/// Settings come from flags, then environment variables (PLUGBOARD_*), then the config file
/// (plugboard.toml in the data directory, or --config), then defaults.
#[derive(Debug, Parser)]
#[command(
    name = "plugboard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the store, the worker pool and the HTTP endpoints, until SIGINT or SIGTERM
    Serve(serve::ServeArgs),
    /// Enqueue, list, inspect, cancel and retry jobs, and read their logs
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Install, update, roll back, uninstall, enable and disable plugins (each is a job)
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Create, list, show and delete tenants
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// A tenant's plugin configs: set, list, show, validate, test, run-now, enable, disable,
    /// delete
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Post and list events
    #[command(subcommand)]
    Event(tenant::EventCommand),
    /// Create, list and revoke API tokens (admin; over the API only)
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Check a server's URL and token and save them as a profile (~/.config/plugboard/config.toml)
    Login(login::LoginArgs),
    /// Print the shell completion script for bash, zsh or fish
    Completions(completions::CompletionsArgs),
    /// Concurrency and rate limits per tenant and per plugin
    #[command(subcommand)]
    Limit(limit::LimitCommand),
    /// List and show the plugboard servers sharing the store, over the HTTP API
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Measure plugboard (see docs/benchmarks.md)
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a new one-time sign-in link for the admin console (asks the running server)
    ConsoleLink(console_link::ConsoleLinkArgs),
    /// Show what protects plugin processes on this machine (Landlock, no_new_privs, rlimits, …)
    Doctor(doctor::DoctorArgs),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Job(command) => job::run(command).await,
        Command::Plugin(command) => plugin::run(command).await,
        Command::Tenant(command) => tenant::run_tenant(command).await,
        Command::Config(command) => config::run(command).await,
        Command::Event(command) => tenant::run_event(command).await,
        Command::Limit(command) => limit::run(command).await,
        Command::Token(command) => token::run(command).await,
        Command::Login(args) => login::run(args).await,
        Command::Completions(args) => completions::run(args),
        Command::Node(command) => node::run(command).await,
        Command::Bench(command) => crate::bench::run(command).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::ConsoleLink(args) => console_link::run(args).await,
    }
}

/// Creates the data directory if needed and checks that it is writable.
pub fn prepare_data_dir(directory: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory).with_context(|| {
        format!(
            "cannot create the data directory {}; create it yourself, fix its permissions or choose another with --data-dir",
            directory.display()
        )
    })?;
    let probe = tempfile::NamedTempFile::new_in(directory).with_context(|| {
        format!(
            "the data directory {} is not writable by this user; fix its permissions or choose another with --data-dir",
            directory.display()
        )
    })?;
    drop(probe);
    // Others may pass through to the folders of their own (plugins run as users of their own)
    // but list and read nothing: the store, its key and the admin token are plugboard's.
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(directory) {
        let mode = meta.permissions().mode() & 0o777;
        let wanted = (mode & 0o700) | 0o011;
        if mode != wanted {
            std::fs::set_permissions(directory, std::fs::Permissions::from_mode(wanted))
                .with_context(|| {
                    format!(
                        "cannot close the data directory {} to other users (mode {wanted:o})",
                        directory.display()
                    )
                })?;
        }
    }
    Ok(())
}

/// Opens the store the settings name.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &settings.database {
        Database::Sqlite { path, synchronous } => {
            prepare_data_dir(&settings.data_dir)?;
            Arc::new(
                SqliteStore::open(SqliteOptions {
                    path: path.clone(),
                    synchronous: *synchronous,
                })
                .await?,
            )
        }
        Database::Postgres { url, schema } => Arc::new(
            PostgresStore::connect(PostgresOptions {
                url: url.clone(),
                schema: schema.clone(),
                pool_size: 8,
            })
            .await?,
        ),
    })
}

/// Resolves settings and opens their store: what every store-using command starts with.
pub async fn settings_and_store(args: &SettingsArgs) -> anyhow::Result<(Settings, Arc<dyn Store>)> {
    let settings = Settings::resolve(args)?;
    let store = open_store(&settings).await?;
    Ok((settings, store))
}

/// This machine's host name (`host` when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// A lease owner name that is unique per process: host, process id and a random suffix.
pub fn worker_id() -> String {
    let host = hostname();
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// A database URL fit for logs: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
