//! `plugboard limit list|set|delete`: concurrency and rate limits per tenant and per plugin,
//! through the API with `--url`, otherwise in the store directly.

use reqwest::Method;
use serde_json::{json, Value};

use super::client::{ApiClient, RemoteArgs};
use super::job::open;
use crate::config::SettingsArgs;
use crate::store::{JobLimit, LimitScope};

#[derive(Debug, clap::Subcommand)]
pub enum LimitCommand {
    /// List every limit
    List(ListArgs),
    /// Set the limit of a tenant or plugin (`*`: every one without its own), replacing its old one
    Set(SetArgs),
    /// Remove a limit
    Delete(DeleteArgs),
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
pub struct SetArgs {
    /// `tenant` or `plugin`
    #[arg(value_parser = ["tenant", "plugin"])]
    pub scope: String,
    /// The tenant or plugin id, or `*` for every one without a limit of its own
    pub name: String,
    /// At most this many of its jobs run at once, on all nodes together
    #[arg(long)]
    pub max_running: Option<u32>,
    /// At most this many of its jobs start per second, on all nodes together
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Starts the rate allows at once (default: one second's worth)
    #[arg(long, requires = "rate")]
    pub burst: Option<u32>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// `tenant` or `plugin`
    #[arg(value_parser = ["tenant", "plugin"])]
    pub scope: String,
    pub name: String,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

fn scope(text: &str) -> LimitScope {
    // clap accepted only `tenant` or `plugin`.
    LimitScope::parse(text).unwrap_or(LimitScope::Tenant)
}

fn client(remote: &RemoteArgs) -> anyhow::Result<Option<ApiClient>> {
    remote.client()
}

/// The path of one limit, with the name escaped (`*` included).
fn path(scope: &str, name: &str) -> String {
    format!("/api/v1/limits/{scope}/{}", super::output::encode(name))
}

pub async fn run(command: LimitCommand) -> anyhow::Result<i32> {
    match command {
        LimitCommand::List(args) => {
            let limits: Vec<Value> = match client(&args.remote)? {
                Some(client) => {
                    let answer = client.call(Method::GET, "/api/v1/limits", None).await?;
                    answer["limits"].as_array().cloned().unwrap_or_default()
                }
                None => {
                    let queue = open(&args.settings).await?;
                    let limits = queue.limit_list().await?;
                    queue.store().close().await;
                    limits
                        .into_iter()
                        .map(|limit| serde_json::to_value(limit).unwrap_or(Value::Null))
                        .collect()
                }
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "limits": limits }))?
                );
            } else if limits.is_empty() {
                println!("no limits: every tenant and plugin takes turns without a cap");
            } else {
                println!(
                    "{:<8} {:<24} {:>11} {:>10} {:>6}",
                    "SCOPE", "NAME", "MAX_RUNNING", "RATE/S", "BURST"
                );
                for limit in &limits {
                    let cell = |field: &str| match &limit[field] {
                        Value::Null => "-".to_owned(),
                        value => value.to_string(),
                    };
                    println!(
                        "{:<8} {:<24} {:>11} {:>10} {:>6}",
                        limit["scope"].as_str().unwrap_or("?"),
                        limit["name"].as_str().unwrap_or("?"),
                        cell("max_running"),
                        cell("rate_per_second"),
                        cell("burst")
                    );
                }
            }
            Ok(0)
        }
        LimitCommand::Set(args) => {
            let shown = match client(&args.remote)? {
                Some(client) => {
                    let body = json!({
                        "max_running": args.max_running,
                        "rate_per_second": args.rate,
                        "burst": args.burst,
                    });
                    client
                        .call(Method::PUT, &path(&args.scope, &args.name), Some(body))
                        .await?
                }
                None => {
                    let queue = open(&args.settings).await?;
                    let stored = queue
                        .limit_put(JobLimit {
                            scope: scope(&args.scope),
                            name: args.name.clone(),
                            max_running: args.max_running,
                            rate_per_second: args.rate,
                            burst: args.burst,
                        })
                        .await;
                    queue.store().close().await;
                    serde_json::to_value(stored?)?
                }
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                println!("{} {} is limited: {shown}", args.scope, args.name);
            }
            Ok(0)
        }
        LimitCommand::Delete(args) => {
            let deleted = match client(&args.remote)? {
                Some(client) => {
                    client
                        .send(Method::DELETE, &path(&args.scope, &args.name), None, None)
                        .await?;
                    true
                }
                None => {
                    let queue = open(&args.settings).await?;
                    let deleted = queue.limit_delete(scope(&args.scope), &args.name).await;
                    queue.store().close().await;
                    deleted?
                }
            };
            if deleted {
                println!("{} {} has no limit now", args.scope, args.name);
                Ok(0)
            } else {
                eprintln!(
                    "{} {} had no limit; `plugboard limit list` shows them",
                    args.scope, args.name
                );
                Ok(1)
            }
        }
    }
}
