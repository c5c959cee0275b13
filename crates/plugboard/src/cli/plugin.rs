//! `plugboard plugin …`: install, update, roll back, uninstall, enable and disable plugins,
//! each an admin job that is followed to its end with a progress bar (`follow.rs`); list and
//! show the registry (`/api/v1/plugins`); and a plugin author's tools that run here without a
//! server: `check`, `pack` (`plugin_check.rs`, `plugin_pack.rs`) and `new` (`plugin_new.rs`).
//!
//! A source that is a file or folder on this machine is uploaded: a folder is packed into a
//! `.tar.gz` first, then the archive is sent as the request body. A URL is sent as it is, for
//! the server to download; `--on-server` sends a path as it is, for the server to read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{ApiClient, ClientArgs};
use super::follow::{follow_job, Display};
use super::output::{encode, or_dash, print_json, text, Table};
use crate::plugins::installer::PLUGIN_REFRESH_METADATA;

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
    /// Print the job as the API shows it, once it has finished
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// A URL (http or https) for the server to download, or the path of an archive or folder
    /// here, uploaded
    pub source: String,
    /// The archive's expected sha256 (64 hex digits); the install fails if it differs
    #[arg(long)]
    pub sha256: Option<String>,
    /// SOURCE is a path on the server's machine, sent as it is, not uploaded
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
    /// SOURCE is a path on the server's machine, sent as it is, not uploaded
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
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    pub plugin: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(command: PluginCommand) -> anyhow::Result<i32> {
    let client = match command {
        // A plugin author's tools, run here without a server.
        PluginCommand::Check(args) => return super::plugin_check::run(args).await,
        PluginCommand::Pack(args) => return super::plugin_pack::run(args).await,
        PluginCommand::New(args) => return super::plugin_new::run(args),
        PluginCommand::Install(ref args) => args.follow.client.connect()?,
        PluginCommand::Update(ref args) => args.follow.client.connect()?,
        PluginCommand::Uninstall(ref args) => args.follow.client.connect()?,
        PluginCommand::Rollback(ref args)
        | PluginCommand::Enable(ref args)
        | PluginCommand::Disable(ref args)
        | PluginCommand::RefreshMetadata(ref args) => args.follow.client.connect()?,
        PluginCommand::List(ref args) => args.client.connect()?,
        PluginCommand::Show(ref args) => args.client.connect()?,
    };
    act(&client, command).await
}

/// The commands that call the server.
async fn act(client: &ApiClient, command: PluginCommand) -> anyhow::Result<i32> {
    let (job, follow) = match command {
        PluginCommand::Check(_) | PluginCommand::Pack(_) | PluginCommand::New(_) => {
            unreachable!("`run` runs a plugin author's tools without a server")
        }
        PluginCommand::List(args) => return list(client, args.json).await,
        PluginCommand::Show(args) => return show(client, &args.plugin, args.json).await,
        PluginCommand::Install(args) => {
            return until_granted(client, args.grant, &args.follow, async |grant| {
                install(client, &args, grant).await
            })
            .await
        }
        PluginCommand::Update(args) => {
            return until_granted(client, args.grant, &args.follow, async |grant| {
                update(client, &args, grant).await
            })
            .await
        }
        PluginCommand::Uninstall(args) => {
            let path = format!(
                "/api/v1/plugins/{}?delete_data={}",
                encode(&args.plugin),
                args.delete_data
            );
            (client.call(Method::DELETE, &path, None).await?, args.follow)
        }
        PluginCommand::Rollback(args) => {
            (action(client, &args.plugin, "rollback").await?, args.follow)
        }
        PluginCommand::Enable(args) => (action(client, &args.plugin, "enable").await?, args.follow),
        PluginCommand::Disable(args) => {
            (action(client, &args.plugin, "disable").await?, args.follow)
        }
        PluginCommand::RefreshMetadata(args) => {
            // No route of its own: the admin enqueues the kind like any built-in job.
            let job = client
                .call(
                    Method::POST,
                    "/api/v1/jobs",
                    Some(json!({"kind": PLUGIN_REFRESH_METADATA, "payload": {"plugin": args.plugin}, "max_attempts": 3})),
                )
                .await?;
            (job, args.follow)
        }
    };
    finish(client, job, &follow).await
}

/// `--grant` needs to see what the job asks for, so it follows the job.
fn check_grant_follows(grant: bool, follow: &FollowArgs) -> anyhow::Result<()> {
    if grant && follow.no_wait {
        bail!("--grant follows the job to show and grant what the plugin asks for; leave out --no-wait");
    }
    Ok(())
}

/// Sends an install, with `grant` as its `grant_permissions`; answers the job.
/// Starts the job with `start` and follows it; with `--grant`, a job that stops awaiting
/// approval is started once more granting what it asked for.
async fn until_granted(
    client: &ApiClient,
    wanted: bool,
    follow: &FollowArgs,
    start: impl AsyncFn(Option<&Value>) -> anyhow::Result<Value>,
) -> anyhow::Result<i32> {
    check_grant_follows(wanted, follow)?;
    let mut grant = None;
    loop {
        let job = start(grant.as_ref()).await?;
        match follow_granting(client, job, follow, wanted && grant.is_none()).await? {
            Granting::Done(code) => return Ok(code),
            Granting::Grant(permissions) => grant = Some(permissions),
        }
    }
}

async fn install(
    client: &ApiClient,
    args: &InstallArgs,
    grant: Option<&Value>,
) -> anyhow::Result<Value> {
    let display = Display::new();
    match Source::of(&args.source, args.on_server)? {
        Source::Remote(source) => {
            let mut body = json!({"source": source, "sha256": args.sha256});
            if let Some(grant) = grant {
                body["grant_permissions"] = grant.clone();
            }
            client
                .call(Method::POST, "/api/v1/plugins", Some(body))
                .await
        }
        Source::Local(path) => {
            let query = super::output::query(&[
                ("sha256", args.sha256.clone()),
                ("grant_permissions", grant.map(Value::to_string)),
            ]);
            upload(
                client,
                &format!("/api/v1/plugins{query}"),
                &path,
                &args.sha256,
                &display,
            )
            .await
        }
    }
}

/// Sends an update, with `grant` as its `grant_permissions`; answers the job.
async fn update(
    client: &ApiClient,
    args: &UpdateArgs,
    grant: Option<&Value>,
) -> anyhow::Result<Value> {
    let display = Display::new();
    let path = format!("/api/v1/plugins/{}/update", encode(&args.plugin));
    let mut body = match (&args.source, &args.to_version) {
        (Some(source), _) => match Source::of(source, args.on_server)? {
            Source::Remote(source) => {
                json!({"source": source, "sha256": args.sha256, "allow_downgrade": args.allow_downgrade})
            }
            Source::Local(local) => {
                let query = super::output::query(&[
                    ("sha256", args.sha256.clone()),
                    (
                        "allow_downgrade",
                        args.allow_downgrade.then(|| "true".to_owned()),
                    ),
                    ("grant_permissions", grant.map(Value::to_string)),
                ]);
                return upload(
                    client,
                    &format!("{path}{query}"),
                    &local,
                    &args.sha256,
                    &display,
                )
                .await;
            }
        },
        (None, Some(version)) => {
            json!({"version": version, "allow_downgrade": args.allow_downgrade})
        }
        (None, None) => bail!("give the new version's SOURCE, or --to VERSION for a kept one"),
    };
    if let Some(grant) = grant {
        body["grant_permissions"] = grant.clone();
    }
    client.call(Method::POST, &path, Some(body)).await
}

/// How following an install or update ended.
enum Granting {
    /// With this exit code.
    Done(i32),
    /// It awaits approval of these permissions, which `--grant` grants: send it again with them.
    Grant(Value),
}

/// Follows an install or update like [`finish`]; when it ends awaiting approval and `may_grant`
/// (`--grant`, not yet tried), shows what the plugin asks for and answers it to be granted.
async fn follow_granting(
    client: &ApiClient,
    job: Value,
    follow: &FollowArgs,
    may_grant: bool,
) -> anyhow::Result<Granting> {
    if follow.no_wait {
        return finish(client, job, follow).await.map(Granting::Done);
    }
    let display = Display::new();
    let job = follow_job(client, &job, &display).await?;
    let progress = &job["progress"];
    if may_grant
        && job["status"] == "failed"
        && progress["step"] == crate::plugins::installer::AWAITING_APPROVAL
    {
        let permissions = progress["permissions"].clone();
        if !permissions.is_object() {
            anyhow::bail!(
                "job {} awaits approval and does not say what the plugin asks for; its error: {}",
                job["id"],
                text(&job["error"])
            );
        }
        eprintln!(
            "plugin {} {} asks for: {}; granting it (--grant) and running the {} again",
            text(&progress["plugin"]),
            text(&progress["version"]),
            crate::plugins::installer::describe_permissions(&permissions),
            text(&job["kind"]).trim_start_matches("plugin.")
        );
        return Ok(Granting::Grant(permissions));
    }
    outcome(job, follow, Some(&display)).map(Granting::Done)
}

/// Where a package comes from, seen from this machine.
enum Source {
    /// A URL, or a path on the server: sent as it is.
    Remote(String),
    /// A file or folder here: uploaded.
    Local(PathBuf),
}

impl Source {
    fn of(source: &str, on_server: bool) -> anyhow::Result<Source> {
        if source.contains("://") || on_server {
            return Ok(Source::Remote(source.to_owned()));
        }
        let path =
            std::path::absolute(source).with_context(|| format!("resolving the path {source}"))?;
        if !path.exists() {
            bail!(
                "{} does not exist on this machine; give a URL, the path of a package archive or folder here (it is uploaded), or pass --on-server for a path on the server",
                path.display()
            );
        }
        Ok(Source::Local(path))
    }
}

/// Uploads a local archive, or a folder packed into a `.tar.gz`; answers the job.
async fn upload(
    client: &ApiClient,
    path: &str,
    local: &Path,
    sha256: &Option<String>,
    display: &Display,
) -> anyhow::Result<Value> {
    let packed = tempfile::tempdir().context("a temporary folder to pack the package in")?;
    let archive = if local.is_dir() {
        if sha256.is_some() {
            bail!("{} is a folder, and a sha256 checks an archive; leave --sha256 out or give the archive", local.display());
        }
        let archive = packed.path().join("package.tar.gz");
        // Dependencies it declares and does not hold are built in first: the host fetches none.
        let folder = if super::plugin_pack::needs_dependencies(local) {
            let stage = packed.path().join("package");
            super::plugin_pack::build(local, &stage, false).await?;
            stage
        } else {
            local.to_path_buf()
        };
        let target = archive.clone();
        tokio::task::spawn_blocking(move || crate::plugins::package::pack_folder(&folder, &target))
            .await
            .context("packing the folder stopped unexpectedly")?
            .with_context(|| format!("packing the folder {}", local.display()))?;
        archive
    } else {
        local.to_path_buf()
    };
    let size = std::fs::metadata(&archive)
        .with_context(|| format!("cannot read {}", archive.display()))?
        .len();
    display.line(&format!("uploading {} ({size} bytes)", local.display()));
    // What `plugin show` names as the source: the file's name, or the folder's with a slash.
    let mut name = local
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| local.display().to_string());
    if local.is_dir() {
        name.push('/');
    }
    let separator = if path.contains('?') { '&' } else { '?' };
    let path = format!(
        "{path}{separator}filename={}",
        super::output::encode(&name.chars().take(255).collect::<String>())
    );
    let progress = display.clone();
    let job = client
        .upload(&path, &archive, content_type(&archive)?, move |sent| {
            progress.bytes(sent, size)
        })
        .await;
    display.finish();
    job.with_context(|| format!("uploading {}", local.display()))
}

/// The media type of an archive, from its first bytes.
fn content_type(archive: &Path) -> anyhow::Result<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 262];
    let mut file = std::fs::File::open(archive)
        .with_context(|| format!("cannot read {}", archive.display()))?;
    let mut filled = 0;
    while filled < head.len() {
        let read = file
            .read(&mut head[filled..])
            .with_context(|| format!("cannot read {}", archive.display()))?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(if filled >= 2 && head[..2] == [0x1f, 0x8b] {
        "application/gzip"
    } else if filled >= 4 && head[..4] == *b"PK\x03\x04" {
        "application/zip"
    } else if filled >= 262 && &head[257..262] == b"ustar" {
        "application/x-tar"
    } else {
        "application/octet-stream"
    })
}

async fn action(client: &ApiClient, plugin: &str, action: &str) -> anyhow::Result<Value> {
    client
        .call(
            Method::POST,
            &format!("/api/v1/plugins/{}/{action}", encode(plugin)),
            None,
        )
        .await
}

/// Prints the job's id (`--no-wait`), or follows it and ends with its outcome: exit 0 when it
/// succeeded, 1 with its error otherwise.
async fn finish(client: &ApiClient, job: Value, follow: &FollowArgs) -> anyhow::Result<i32> {
    if follow.no_wait {
        if follow.json {
            print_json(&job)?;
        } else {
            println!("{}", job["id"]);
        }
        return Ok(0);
    }
    let display = Display::new();
    let job = follow_job(client, &job, &display).await?;
    outcome(job, follow, Some(&display))
}

/// Prints how a followed job ended; exit 0 when it succeeded, 1 with its error otherwise (said
/// once: not again when its log, shown on `display`, said it already).
fn outcome(job: Value, follow: &FollowArgs, display: Option<&Display>) -> anyhow::Result<i32> {
    if follow.json {
        print_json(&job)?;
    }
    match job["status"].as_str() {
        Some("succeeded") => {
            if !follow.json {
                let result = &job["result"];
                println!(
                    "{} {}: {} succeeded",
                    or_dash(&result["plugin"]),
                    or_dash(&result["version"]),
                    text(&job["kind"]).trim_start_matches("plugin.")
                );
            }
            Ok(0)
        }
        status => {
            let error = job["error"].as_str().unwrap_or("no error was recorded");
            let status = status.unwrap_or("ended");
            if display.is_some_and(|display| display.has_shown(error)) {
                eprintln!("job {} {status}", job["id"]);
            } else {
                eprintln!("job {} {status}: {error}", job["id"]);
            }
            Ok(1)
        }
    }
}

async fn list(client: &ApiClient, json: bool) -> anyhow::Result<i32> {
    let answer = client.call(Method::GET, "/api/v1/plugins", None).await?;
    if json {
        print_json(&answer)?;
        return Ok(0);
    }
    let plugins = answer["plugins"].as_array().cloned().unwrap_or_default();
    if plugins.is_empty() {
        println!("no plugins are installed; `plugboard plugin install SOURCE` installs one");
        return Ok(0);
    }
    let mut table = Table::new(["plugin", "version", "previous", "state", "error"]);
    for plugin in &plugins {
        table.row([
            text(&plugin["id"]),
            or_dash(&plugin["active_version"]),
            or_dash(&plugin["previous_version"]),
            text(&plugin["state"]),
            text(&plugin["error"]),
        ]);
    }
    table.print()?;
    Ok(0)
}

async fn show(client: &ApiClient, plugin: &str, json: bool) -> anyhow::Result<i32> {
    let plugin = client
        .call(
            Method::GET,
            &format!("/api/v1/plugins/{}", encode(plugin)),
            None,
        )
        .await?;
    if json {
        print_json(&plugin)?;
        return Ok(0);
    }
    println!("plugin        {}", text(&plugin["id"]));
    println!("version       {}", or_dash(&plugin["active_version"]));
    println!("previous      {}", or_dash(&plugin["previous_version"]));
    println!("state         {}", text(&plugin["state"]));
    if !plugin["error"].is_null() {
        println!("error         {}", text(&plugin["error"]));
    }
    println!("source        {}", or_dash(&plugin["source"]));
    println!(
        "granted       {}",
        granted_line(&plugin["granted_permissions"])
    );
    if !plugin["changed_by"].is_null() {
        println!("changed by    job {}", plugin["changed_by"]);
    }
    println!("updated       {}", text(&plugin["updated_at"]));
    if !plugin["busy_with_job"].is_null() {
        println!("busy with     job {}", plugin["busy_with_job"]);
    }
    let metadata = &plugin["metadata"];
    if !metadata.is_null() {
        println!(
            "metadata      {} (version {})",
            text(&metadata["state"]),
            text(&metadata["version"])
        );
    }
    println!("kept versions");
    for version in plugin["versions"].as_array().into_iter().flatten() {
        println!(
            "  {:<12}  {:>10} bytes  sha256 {}  {}",
            text(&version["version"]),
            text(&version["size"]),
            text(&version["sha256"]),
            text(&version["source"])
        );
    }
    Ok(0)
}

/// The permissions a plugin was granted, for `plugin show`.
fn granted_line(granted: &Value) -> String {
    if granted.is_object() {
        crate::plugins::installer::describe_permissions(granted)
    } else {
        "nothing recorded (installed before grants were recorded)".to_owned()
    }
}
