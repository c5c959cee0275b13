//! `plugboard tenant …` and `plugboard event …`: tenants, and events posted by hand, each a call
//! of the server's API (`/api/v1/tenants`, `/api/v1/events`).

use reqwest::Method;
use serde_json::{json, Value};

use super::client::ClientArgs;
use super::output::{encode, print_json, query, text, Table};

#[derive(Debug, clap::Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (an organisation or a user)
    Create(TenantCreateArgs),
    /// List tenants
    List(JsonArgs),
    /// Show a tenant and its configs
    Show(TenantIdArgs),
    /// Delete a tenant and its configs (its jobs and events stay as history)
    Delete(TenantIdArgs),
}

#[derive(Debug, clap::Args)]
pub struct TenantCreateArgs {
    /// 1 to 64 letters, digits, `_`, `-` or `.`
    pub id: String,
    /// A display name [default: the id]
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct TenantIdArgs {
    pub id: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct JsonArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventCommand {
    /// Post an event: it is stored, then every enabled config of the tenant subscribed to its
    /// type gets one job
    Post(EventPostArgs),
    /// List events, newest first
    List(EventListArgs),
}

#[derive(Debug, clap::Args)]
pub struct EventPostArgs {
    /// The event type, for example form.submitted
    #[arg(value_name = "TYPE")]
    pub event_type: String,
    /// Payload as JSON [default: {}]
    pub payload: Option<String>,
    #[arg(long)]
    pub tenant: String,
    /// A second post with the same key (for this tenant) does nothing
    #[arg(long)]
    pub idempotency_key: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct EventListArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run_tenant(command: TenantCommand) -> anyhow::Result<i32> {
    let client = match &command {
        TenantCommand::Create(args) => &args.client,
        TenantCommand::List(args) => &args.client,
        TenantCommand::Show(args) | TenantCommand::Delete(args) => &args.client,
    }
    .connect()?;
    match command {
        TenantCommand::Create(args) => {
            let tenant = client
                .call(
                    Method::POST,
                    "/api/v1/tenants",
                    Some(json!({"id": args.id, "name": args.name})),
                )
                .await?;
            if args.json {
                print_json(&tenant)?;
            } else {
                println!("tenant {} created", text(&tenant["id"]));
            }
        }
        TenantCommand::List(args) => {
            let answer = client.call(Method::GET, "/api/v1/tenants", None).await?;
            if args.json {
                print_json(&answer)?;
            } else {
                let mut table = Table::new(["id", "name"]);
                for tenant in answer["tenants"].as_array().into_iter().flatten() {
                    table.row([text(&tenant["id"]), text(&tenant["name"])]);
                }
                table.print()?;
            }
        }
        TenantCommand::Show(args) => {
            let id = encode(&args.id);
            let tenant = client
                .call(Method::GET, &format!("/api/v1/tenants/{id}"), None)
                .await?;
            let configs = client
                .call(Method::GET, &format!("/api/v1/tenants/{id}/configs"), None)
                .await?;
            if args.json {
                print_json(&tenant)?;
            } else {
                println!("tenant {} ({})", text(&tenant["id"]), text(&tenant["name"]));
                let configs: Vec<Value> =
                    configs["configs"].as_array().cloned().unwrap_or_default();
                super::config::print_configs(&configs)?;
            }
        }
        TenantCommand::Delete(args) => {
            client
                .call(
                    Method::DELETE,
                    &format!("/api/v1/tenants/{}", encode(&args.id)),
                    None,
                )
                .await?;
            // With --json, nothing: the API answers 204 without a body.
            if !args.json {
                println!("tenant {} deleted", args.id);
            }
        }
    }
    Ok(0)
}

pub async fn run_event(command: EventCommand) -> anyhow::Result<i32> {
    let client = match &command {
        EventCommand::Post(args) => &args.client,
        EventCommand::List(args) => &args.client,
    }
    .connect()?;
    match command {
        EventCommand::Post(args) => {
            let payload: Value = serde_json::from_str(args.payload.as_deref().unwrap_or("{}"))
                .map_err(|error| {
                    anyhow::anyhow!("the payload is not valid JSON: {error}; write it as a JSON object, e.g. '{{\"form\": 7}}'")
                })?;
            let posted = client
                .call(
                    Method::POST,
                    "/api/v1/events",
                    Some(json!({
                        "type": args.event_type,
                        "tenant": args.tenant,
                        "payload": payload,
                        "idempotency_key": args.idempotency_key,
                    })),
                )
                .await?;
            if args.json {
                print_json(&posted)?;
            } else if posted["created"].as_bool() == Some(false) {
                println!(
                    "event {} already posted with this idempotency key; nothing done",
                    posted["event_id"]
                );
            } else {
                println!(
                    "event {} posted; {} enqueued",
                    posted["event_id"],
                    crate::words::count(posted["jobs"].as_u64().unwrap_or(0), "job")
                );
            }
        }
        EventCommand::List(args) => {
            let path = format!(
                "/api/v1/events{}",
                query(&[
                    ("tenant", args.tenant),
                    ("type", args.event_type),
                    ("limit", Some(args.limit.to_string())),
                ])
            );
            let page = client.call(Method::GET, &path, None).await?;
            if args.json {
                print_json(&page)?;
            } else {
                let mut table = Table::new(["id", "tenant", "type", "deliveries"]);
                for event in page["events"].as_array().into_iter().flatten() {
                    table.row([
                        text(&event["id"]),
                        text(&event["tenant"]),
                        text(&event["type"]),
                        match &event["deliveries"] {
                            Value::Null => "pending".to_owned(),
                            count => count.to_string(),
                        },
                    ]);
                }
                table.print()?;
                if let Some(cursor) = page["next_cursor"].as_str() {
                    println!("(more after event {cursor}: the API pages with cursor={cursor})");
                }
            }
        }
    }
    Ok(0)
}
