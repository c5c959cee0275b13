//! `plugboard plugin …` over the HTTP API: each action answers with its job, which is followed
//! to its end with a progress bar (`follow.rs`); list and show read `/api/v1/plugins`.
//!
//! A source that is a file or folder on this machine is uploaded: a folder is packed into a
//! `.tar.gz` first, then the archive is sent as the request body. A URL is sent as it is, for
//! the server to download; `--on-server` sends a path as it is, for the server to read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::follow::{follow_job, Display};
use super::output::{encode, or_dash, print_json, text};
use super::plugin::{FollowArgs, InstallArgs, PluginCommand, UpdateArgs};
use crate::plugins::installer::PLUGIN_REFRESH_METADATA;

pub async fn run(client: &ApiClient, command: PluginCommand) -> anyhow::Result<i32> {
    let (job, follow) = match command {
        PluginCommand::List(args) => return list(client, args.json).await,
        PluginCommand::Show(args) => return show(client, &args.plugin, args.json).await,
        PluginCommand::Check(args) => return super::plugin_check::run(args).await,
        PluginCommand::Pack(args) => return super::plugin_pack::run(args).await,
        PluginCommand::New(args) => return super::plugin_new::run(args),
        PluginCommand::Install(args) => {
            check_grant_follows(args.grant, &args.follow)?;
            let mut grant = None;
            loop {
                let job = install(client, &args, grant.as_ref()).await?;
                match follow_granting(client, job, &args.follow, args.grant && grant.is_none())
                    .await?
                {
                    Granting::Done(code) => return Ok(code),
                    Granting::Grant(permissions) => grant = Some(permissions),
                }
            }
        }
        PluginCommand::Update(args) => {
            check_grant_follows(args.grant, &args.follow)?;
            let mut grant = None;
            loop {
                let job = update(client, &args, grant.as_ref()).await?;
                match follow_granting(client, job, &args.follow, args.grant && grant.is_none())
                    .await?
                {
                    Granting::Done(code) => return Ok(code),
                    Granting::Grant(permissions) => grant = Some(permissions),
                }
            }
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
pub(super) fn check_grant_follows(grant: bool, follow: &FollowArgs) -> anyhow::Result<()> {
    if grant && follow.no_wait {
        bail!("--grant follows the job to show and grant what the plugin asks for; leave out --no-wait");
    }
    Ok(())
}

/// Sends an install, with `grant` as its `grant_permissions`; answers the job.
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
    println!(
        "{:<24}  {:<12}  {:<12}  {:<10}  error",
        "plugin", "version", "previous", "state"
    );
    for plugin in &plugins {
        println!(
            "{:<24}  {:<12}  {:<12}  {:<10}  {}",
            text(&plugin["id"]),
            or_dash(&plugin["active_version"]),
            or_dash(&plugin["previous_version"]),
            text(&plugin["state"]),
            text(&plugin["error"])
        );
    }
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
pub(super) fn granted_line(granted: &Value) -> String {
    if granted.is_object() {
        crate::plugins::installer::describe_permissions(granted)
    } else {
        "nothing recorded (installed before grants were recorded)".to_owned()
    }
}
