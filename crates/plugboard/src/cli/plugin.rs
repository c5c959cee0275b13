//! `plugboard plugin …`: install, update, roll back, uninstall, enable and disable plugins, each
//! by enqueueing its admin job and following it to the end; list and show the registry.
//!
//! With a server named (`--url`, `PLUGBOARD_URL` or a profile) each command calls the API
//! (`plugin_remote.rs`), and a source on this machine is uploaded. Without one, it opens the
//! store directly, so a `plugboard serve` must run on the same data directory or database to
//! run the jobs; a path given as a source is then made absolute here and read by the server.

use std::io::Write;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::RemoteArgs;
use crate::config::SettingsArgs;
use crate::plugins::installer::{
    PLUGIN_DISABLE, PLUGIN_ENABLE, PLUGIN_INSTALL, PLUGIN_REFRESH_METADATA, PLUGIN_ROLLBACK,
    PLUGIN_UNINSTALL, PLUGIN_UPDATE,
};
use crate::queue::Queue;
use crate::store::{JobStatus, NewJob, Timestamp};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from an http(s) URL, a .tar.gz, .tar or .zip archive, or a folder
    Install(InstallArgs),
    /// Update a plugin to the package at SOURCE, or to a version kept in the store
    Update(UpdateArgs),
    /// Go back to the plugin's previous version
    Rollback(PluginArgs),
    /// Remove a plugin; its data (key-value store, data folder) is kept unless --delete-data
    Uninstall(UninstallArgs),
    /// Start a disabled plugin
    Enable(PluginArgs),
    /// Stop a plugin and keep it installed
    Disable(PluginArgs),
    /// Start the active version once and cache the metadata it declares
    RefreshMetadata(PluginArgs),
    /// List installed plugins
    List(ListArgs),
    /// Show one installed plugin and its kept versions
    Show(ShowArgs),
    /// Check a plugin package folder as the host will run it (handshake, metadata, ping, a run,
    /// a cancel, stdout, shutdown, leftovers) and say what to fix; runs here, without a server
    Check(CheckArgs),
    /// Build a plugin's folder into a package archive with everything it needs inside (a Rust
    /// binary, Python or Node dependencies), check that it starts, and write it with its sha256
    Pack(PackArgs),
    /// Write a new plugin (manifest, code with a config schema, a test) that installs and runs
    /// as written
    New(NewArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PluginLanguage {
    Rust,
    Python,
    Node,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's id, and its folder's name
    pub name: String,
    /// The language: python and node carry their SDK inside; rust depends on the Rust SDK by path
    #[arg(long, value_enum)]
    pub lang: PluginLanguage,
    /// Where to make the folder [default: the current folder]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// rust: the Rust SDK's folder (crates/plugboard-sdk of a plugboard checkout) [default: the
    /// checkout plugboard was built from]
    #[arg(long, value_name = "DIR")]
    pub sdk_path: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// The plugin's folder (with plugin.toml at its root)
    pub dir: std::path::PathBuf,
    /// Where to write NAME-VERSION.tar.gz and its .sha256 [default: the current folder]
    #[arg(long, value_name = "FOLDER")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The package folder (with plugin.toml at its root)
    pub dir: std::path::PathBuf,
    /// Config values (JSON) to validate and run with [default: the config schema's defaults]
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// The run's payload (JSON)
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub payload: String,
    /// How long each answer may take, the handshake's included, in ms
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Print the steps as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// Print the job id and return instead of following the job
    #[arg(long)]
    pub no_wait: bool,
    /// Print the job's result as JSON when it succeeds (over the API: the job as the API
    /// shows it)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// A URL (http or https), or the path of an archive or folder (uploaded when calling a
    /// server)
    pub source: String,
    /// The archive's expected sha256 (64 hex digits); the install fails if it differs
    #[arg(long)]
    pub sha256: Option<String>,
    /// With a server: SOURCE is a path on the server's machine, sent as it is, not uploaded
    #[arg(long)]
    pub on_server: bool,
    /// Grant the permissions the plugin asks for (admin token only): when the install stops
    /// awaiting approval, print what it asks for and install again granting exactly that
    #[arg(long)]
    pub grant: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    pub plugin: String,
    /// A URL, or the path of an archive or folder, holding the new version
    #[arg(required_unless_present = "to_version", conflicts_with = "to_version")]
    pub source: Option<String>,
    /// Go to this version, kept in the store from an earlier install or update
    #[arg(long = "to", value_name = "VERSION")]
    pub to_version: Option<String>,
    #[arg(long)]
    pub sha256: Option<String>,
    /// With a server: SOURCE is a path on the server's machine, sent as it is, not uploaded
    #[arg(long)]
    pub on_server: bool,
    /// Accept a version older than the active one
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Grant the permissions the new version asks for (admin token only): when the update stops
    /// awaiting approval, print what it asks for and update again granting exactly that
    #[arg(long)]
    pub grant: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, clap::Args)]
pub struct PluginArgs {
    pub plugin: String,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    pub plugin: String,
    /// Also delete the plugin's key-value data, cached metadata and data folder
    #[arg(long)]
    pub delete_data: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    pub plugin: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// A source as the server will read it: URLs as they are, paths made absolute and checked.
fn resolve_source(source: &str) -> anyhow::Result<String> {
    if source.contains("://") {
        return Ok(source.to_owned());
    }
    let path =
        std::path::absolute(source).with_context(|| format!("resolving the path {source}"))?;
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist; give a URL, or the path of a package archive or folder",
            path.display()
        );
    }
    Ok(path.display().to_string())
}

impl PluginCommand {
    /// Where the command may call a server; `None` for the commands that run here only.
    fn remote(&self) -> Option<&RemoteArgs> {
        Some(match self {
            PluginCommand::Install(args) => &args.follow.remote,
            PluginCommand::Update(args) => &args.follow.remote,
            PluginCommand::Uninstall(args) => &args.follow.remote,
            PluginCommand::Rollback(args)
            | PluginCommand::Enable(args)
            | PluginCommand::Disable(args)
            | PluginCommand::RefreshMetadata(args) => &args.follow.remote,
            PluginCommand::List(args) => &args.remote,
            PluginCommand::Show(args) => &args.remote,
            PluginCommand::Check(_) | PluginCommand::Pack(_) | PluginCommand::New(_) => {
                return None
            }
        })
    }
}

pub async fn run(command: PluginCommand) -> anyhow::Result<i32> {
    if let Some(client) = command
        .remote()
        .map(RemoteArgs::client)
        .transpose()?
        .flatten()
    {
        return super::plugin_remote::run(&client, command).await;
    }
    let (kind, payload, follow, grant) = match command {
        PluginCommand::List(args) => return list(args).await,
        PluginCommand::Show(args) => return show(args).await,
        PluginCommand::Check(args) => return super::plugin_check::run(args).await,
        PluginCommand::Pack(args) => return super::plugin_pack::run(args).await,
        PluginCommand::New(args) => return super::plugin_new::run(args),
        PluginCommand::Install(args) => {
            let mut payload = json!({"source": resolve_source(&args.source)?});
            if let Some(sha256) = args.sha256 {
                payload["sha256"] = json!(sha256);
            }
            (PLUGIN_INSTALL, payload, args.follow, args.grant)
        }
        PluginCommand::Update(args) => {
            let mut payload = json!({"plugin": args.plugin});
            if let Some(source) = &args.source {
                payload["source"] = json!(resolve_source(source)?);
            }
            if let Some(version) = args.to_version {
                payload["version"] = json!(version);
            }
            if let Some(sha256) = args.sha256 {
                payload["sha256"] = json!(sha256);
            }
            if args.allow_downgrade {
                payload["allow_downgrade"] = json!(true);
            }
            (PLUGIN_UPDATE, payload, args.follow, args.grant)
        }
        PluginCommand::Uninstall(args) => (
            PLUGIN_UNINSTALL,
            json!({"plugin": args.plugin, "delete_data": args.delete_data}),
            args.follow,
            false,
        ),
        PluginCommand::Rollback(args) => (
            PLUGIN_ROLLBACK,
            json!({"plugin": args.plugin}),
            args.follow,
            false,
        ),
        PluginCommand::Enable(args) => (
            PLUGIN_ENABLE,
            json!({"plugin": args.plugin}),
            args.follow,
            false,
        ),
        PluginCommand::Disable(args) => (
            PLUGIN_DISABLE,
            json!({"plugin": args.plugin}),
            args.follow,
            false,
        ),
        PluginCommand::RefreshMetadata(args) => (
            PLUGIN_REFRESH_METADATA,
            json!({"plugin": args.plugin}),
            args.follow,
            false,
        ),
    };
    super::plugin_remote::check_grant_follows(grant, &follow)?;
    let queue = super::job::open(&follow.settings).await?;
    let mut payload = payload;
    let code = loop {
        let may_grant = grant && payload.get("grant_permissions").is_none();
        match enqueue_and_follow(&queue, kind, payload.clone(), &follow, may_grant).await {
            Ok((_, Some(permissions))) => payload["grant_permissions"] = permissions,
            Ok((code, None)) => break Ok(code),
            Err(error) => break Err(error),
        }
    };
    queue.store().close().await;
    code
}

/// Enqueues an admin job, prints its log as it grows, and ends with its outcome: exit 0 when it
/// succeeded, 1 with its error otherwise. When it awaits approval and `may_grant` (`--grant`),
/// it shows what the plugin asks for and answers those permissions, to be granted.
async fn enqueue_and_follow(
    queue: &Queue,
    kind: &str,
    payload: Value,
    follow: &FollowArgs,
    may_grant: bool,
) -> anyhow::Result<(i32, Option<Value>)> {
    let mut job = NewJob::new(kind, payload);
    // A retry picks up a job whose host died mid-way; errors of the action itself are final.
    job.max_attempts = 3;
    queue.validate(&job)?;
    let id = queue.enqueue(job).await?.id;
    if follow.no_wait {
        println!("{id}");
        return Ok((0, None));
    }
    eprintln!("job {id} ({kind}) enqueued; following it (Ctrl-C stops following, not the job)");
    let mut stdout = std::io::stdout().lock();
    let mut lines = queue.follow_logs(id, 0);
    while let Some(line) = lines.recv().await {
        let line = line?;
        let level = match line.level.as_str() {
            "info" => String::new(),
            other => format!("{other}: "),
        };
        writeln!(stdout, "{level}{}", line.message).context("writing to stdout")?;
    }
    let job = queue.get(id).await?;
    let progress = job.progress.clone().unwrap_or(Value::Null);
    if may_grant
        && job.status == JobStatus::Failed
        && progress["step"] == crate::plugins::installer::AWAITING_APPROVAL
    {
        let permissions = progress["permissions"].clone();
        if !permissions.is_object() {
            anyhow::bail!(
                "job {id} awaits approval and does not say what the plugin asks for; its error: {}",
                job.error.as_deref().unwrap_or("none recorded")
            );
        }
        eprintln!(
            "plugin {} {} asks for: {}; granting it (--grant) and running the {} again",
            progress["plugin"].as_str().unwrap_or("?"),
            progress["version"].as_str().unwrap_or("?"),
            crate::plugins::installer::describe_permissions(&permissions),
            kind.trim_start_matches("plugin.")
        );
        return Ok((1, Some(permissions)));
    }
    match job.status {
        JobStatus::Succeeded => {
            if follow.json {
                writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string_pretty(&job.result.unwrap_or(Value::Null))?
                )
                .context("writing to stdout")?;
            }
            Ok((0, None))
        }
        status => {
            eprintln!(
                "job {id} {status}: {}",
                job.error.as_deref().unwrap_or("no error was recorded")
            );
            Ok((1, None))
        }
    }
}

fn time(at: Timestamp) -> String {
    humantime::format_rfc3339_seconds(at.into()).to_string()
}

async fn list(args: ListArgs) -> anyhow::Result<i32> {
    let queue = super::job::open(&args.settings).await?;
    let plugins = queue.store().plugin_list().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plugins)?);
    } else if plugins.is_empty() {
        println!("no plugins are installed; `plugboard plugin install SOURCE` installs one");
    } else {
        println!(
            "{:<24}  {:<12}  {:<12}  {:<10}  error",
            "plugin", "version", "previous", "state"
        );
        for plugin in &plugins {
            println!(
                "{:<24}  {:<12}  {:<12}  {:<10}  {}",
                plugin.id,
                plugin.active_version.as_deref().unwrap_or("-"),
                plugin.previous_version.as_deref().unwrap_or("-"),
                plugin.state,
                plugin.error.as_deref().unwrap_or("")
            );
        }
    }
    queue.store().close().await;
    Ok(0)
}

async fn show(args: ShowArgs) -> anyhow::Result<i32> {
    let queue = super::job::open(&args.settings).await?;
    let store = queue.store();
    let Some(plugin) = store.plugin_get(&args.plugin).await? else {
        store.close().await;
        anyhow::bail!(
            "plugin {} is not installed; `plugboard plugin list` shows what is",
            args.plugin
        );
    };
    let versions = store.package_list(&args.plugin).await?;
    let metadata = store.plugin_metadata_get(&args.plugin).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"plugin": plugin, "versions": versions, "metadata": metadata})
            )?
        );
    } else {
        println!("plugin        {}", plugin.id);
        println!(
            "version       {}",
            plugin.active_version.as_deref().unwrap_or("-")
        );
        println!(
            "previous      {}",
            plugin.previous_version.as_deref().unwrap_or("-")
        );
        println!("state         {}", plugin.state);
        if let Some(error) = &plugin.error {
            println!("error         {error}");
        }
        println!("source        {}", plugin.source.as_deref().unwrap_or("-"));
        println!(
            "granted       {}",
            super::plugin_remote::granted_line(
                plugin.granted_permissions.as_ref().unwrap_or(&Value::Null)
            )
        );
        if let Some(job) = plugin.changed_by {
            println!("changed by    job {job}");
        }
        println!("updated       {}", time(plugin.updated_at));
        if let Some(metadata) = &metadata {
            println!(
                "metadata      {} (version {})",
                metadata.state.as_str(),
                metadata.version
            );
        }
        println!("kept versions");
        for version in &versions {
            println!(
                "  {:<12}  {:>10} bytes  sha256 {}  {}",
                version.version,
                version.size,
                version.sha256,
                version.source.as_deref().unwrap_or("")
            );
        }
    }
    store.close().await;
    Ok(0)
}
