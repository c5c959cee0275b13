//! `plugboard limit list|set|delete`: concurrency and rate limits per tenant and per plugin,
//! through the API (`/api/v1/limits`).

use reqwest::Method;
use serde_json::{json, Value};

use super::client::ClientArgs;
use super::output::Table;

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
    pub client: ClientArgs,
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
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// `tenant` or `plugin`
    #[arg(value_parser = ["tenant", "plugin"])]
    pub scope: String,
    pub name: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The path of one limit, with the name escaped (`*` included).
fn path(scope: &str, name: &str) -> String {
    format!("/api/v1/limits/{scope}/{}", super::output::encode(name))
}

pub async fn run(command: LimitCommand) -> anyhow::Result<i32> {
    match command {
        LimitCommand::List(args) => {
            let client = args.client.connect()?;
            let answer = client.call(Method::GET, "/api/v1/limits", None).await?;
            let limits = answer["limits"].as_array().cloned().unwrap_or_default();
            if args.json {
                super::output::print_json(&answer)?;
            } else if limits.is_empty() {
                println!("no limits: every tenant and plugin takes turns without a cap");
            } else {
                let mut table = Table::new(["scope", "name", "max running", "rate/s", "burst"]);
                for limit in &limits {
                    let cell = |field: &str| match &limit[field] {
                        Value::Null => "-".to_owned(),
                        value => super::output::text(value),
                    };
                    table.row([
                        cell("scope"),
                        cell("name"),
                        cell("max_running"),
                        cell("rate_per_second"),
                        cell("burst"),
                    ]);
                }
                table.print()?;
            }
            Ok(0)
        }
        LimitCommand::Set(args) => {
            let client = args.client.connect()?;
            let body = json!({
                "max_running": args.max_running,
                "rate_per_second": args.rate,
                "burst": args.burst,
            });
            let shown = client
                .call(Method::PUT, &path(&args.scope, &args.name), Some(body))
                .await?;
            if args.json {
                super::output::print_json(&shown)?;
            } else {
                println!("{} {} is limited: {shown}", args.scope, args.name);
            }
            Ok(0)
        }
        LimitCommand::Delete(args) => {
            let client = args.client.connect()?;
            client
                .send(Method::DELETE, &path(&args.scope, &args.name), None, None)
                .await?;
            println!("{} {} has no limit now", args.scope, args.name);
            Ok(0)
        }
    }
}
