//! The `plugboard` command line: argument definitions and one file per subcommand.
//!
//! Owns: parsing flags (with their environment variables), turning settings into a running
//! store, exit codes and what a person sees. Must not touch: SQL, job rules (it calls `queue/`).
//!
//! Every command but `serve`, `bench`, `doctor`, `completions` and a plugin author's tools
//! (`plugin check|pack|new`) is a client of the server's API (`client.rs`): the server named by
//! `--url`, `PLUGBOARD_URL` or a profile (`profile.rs`), else the one running on the data
//! directory (`local_server.rs`). None of them opens the store.

mod client;
mod completions;
mod config;
mod config_check;
mod console_link;
mod doctor;
mod follow;
mod job;
mod job_import;
mod job_watch;
mod limit;
mod local_plugins;
mod local_server;
mod login;
mod node;
mod output;
mod plugin;
mod plugin_check;
mod plugin_new;
mod plugin_pack;
mod profile;
mod serve;
mod tenant;
mod token;

use clap::{Parser, Subcommand};

use crate::bench::BenchCommand;

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
