//! `plugboard node list|show`: the plugboard servers sharing the store, from the HTTP API
//! (`GET /api/v1/nodes`), with `--url` and `--token` as `plugboard job` takes them. Tables by
//! default, the API's JSON with `--json`.

use reqwest::Method;
use serde_json::Value;

use super::client::ClientArgs;
use super::output::{encode, text, Table};

#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// List the nodes: up, gone (not seen for 3 heartbeats) or stopped
    List(ListArgs),
    /// Show one node: its queues, plugins and when it was last seen
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print the API's JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The node's id, as `plugboard node list` shows it
    pub id: String,
    /// Print the API's JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(command: NodeCommand) -> anyhow::Result<i32> {
    match command {
        NodeCommand::List(args) => {
            let answer = args
                .client
                .connect()?
                .call(Method::GET, "/api/v1/nodes", None)
                .await?;
            if args.json {
                super::output::print_json(&answer)?;
                return Ok(0);
            }
            let mut table = Table::new([
                "id", "status", "listen", "version", "seen", "queues", "plugins",
            ]);
            for node in answer["nodes"].as_array().into_iter().flatten() {
                table.row([
                    text(&node["id"]),
                    text(&node["status"]),
                    text(&node["listen"]),
                    text(&node["version"]),
                    seen_ago(&node["seen_ago_ms"]),
                    queues(&node["queues"]),
                    list(&node["plugins"]),
                ]);
            }
            table.print()?;
        }
        NodeCommand::Show(args) => {
            let path = format!("/api/v1/nodes/{}", encode(&args.id));
            let node = args
                .client
                .connect()?
                .call(Method::GET, &path, None)
                .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&node)?);
                return Ok(0);
            }
            for (label, value) in [
                ("id", text(&node["id"])),
                ("status", text(&node["status"])),
                ("hostname", text(&node["hostname"])),
                ("pid", text(&node["pid"])),
                ("version", text(&node["version"])),
                ("listen", text(&node["listen"])),
                ("queues", queues(&node["queues"])),
                ("plugins", list(&node["plugins"])),
                ("heartbeat", format!("{} ms", text(&node["heartbeat_ms"]))),
                ("started_at", text(&node["started_at"])),
                (
                    "last_seen_at",
                    format!(
                        "{} ({} ago)",
                        text(&node["last_seen_at"]),
                        seen_ago(&node["seen_ago_ms"])
                    ),
                ),
                ("stopped_at", text(&node["stopped_at"])),
            ] {
                if !value.is_empty() {
                    println!("{label:<13} {value}");
                }
            }
        }
    }
    Ok(0)
}

fn list(value: &Value) -> String {
    let items: Vec<String> = value.as_array().into_iter().flatten().map(text).collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

fn queues(value: &Value) -> String {
    let items: Vec<String> = value
        .as_array()
        .into_iter()
        .flatten()
        .map(|queue| format!("{}={}", text(&queue["name"]), text(&queue["concurrency"])))
        .collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

fn seen_ago(value: &Value) -> String {
    let Some(ms) = value.as_i64() else {
        return "-".to_owned();
    };
    if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}h", ms / 3_600_000)
    }
}
