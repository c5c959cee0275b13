//! `plugboard tenant …` and `plugboard event …`: tenants, and events posted by hand.
//!
//! With a server named (`--url`, `PLUGBOARD_URL` or a profile) each command calls the API
//! (`tenant_remote.rs`); without one, it opens the store directly.

use serde_json::json;

use super::client::RemoteArgs;
use super::settings_and_store;
use crate::config::SettingsArgs;
use crate::events::{Events, PostEvent};
use crate::store::EventFilter;
use crate::tenants::{SecretKey, Tenants};

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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct TenantIdArgs {
    pub id: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct JsonArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// The tenants facade over the store the settings name, with the data directory's secret key.
pub async fn open_tenants(args: &SettingsArgs) -> anyhow::Result<Tenants> {
    let (settings, store) = settings_and_store(args).await?;
    super::prepare_data_dir(&settings.data_dir)?;
    let key = SecretKey::load(&settings.data_dir)?;
    Ok(Tenants::new(store, key))
}

impl TenantCommand {
    fn remote(&self) -> &RemoteArgs {
        match self {
            TenantCommand::Create(args) => &args.remote,
            TenantCommand::List(args) => &args.remote,
            TenantCommand::Show(args) | TenantCommand::Delete(args) => &args.remote,
        }
    }
}

impl EventCommand {
    fn remote(&self) -> &RemoteArgs {
        match self {
            EventCommand::Post(args) => &args.remote,
            EventCommand::List(args) => &args.remote,
        }
    }
}

pub async fn run_tenant(command: TenantCommand) -> anyhow::Result<i32> {
    if let Some(client) = command.remote().client()? {
        return super::tenant_remote::run_tenant(&client, command).await;
    }
    match command {
        TenantCommand::Create(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let tenant = tenants.create_tenant(&args.id, args.name.as_deref()).await;
            tenants.store().close().await;
            let tenant = tenant?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&tenant)?);
            } else {
                println!("tenant {} created", tenant.id);
            }
        }
        TenantCommand::List(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let list = tenants.list_tenants().await;
            tenants.store().close().await;
            let list = list?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<24}  name", "id");
                for tenant in &list {
                    println!("{:<24}  {}", tenant.id, tenant.name);
                }
            }
        }
        TenantCommand::Show(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let shown = async {
                let tenant = tenants.tenant(&args.id).await?;
                let configs = tenants
                    .list_configs(crate::store::ConfigFilter {
                        tenant: Some(args.id.clone()),
                        ..Default::default()
                    })
                    .await?;
                Ok::<_, crate::tenants::TenantError>((tenant, configs))
            }
            .await;
            tenants.store().close().await;
            let (tenant, configs) = shown?;
            if args.json {
                println!("{}", json!({"tenant": tenant, "configs": configs}));
            } else {
                println!("tenant {} ({})", tenant.id, tenant.name);
                for view in &configs {
                    super::config::print_config_line(view);
                }
            }
        }
        TenantCommand::Delete(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let deleted = tenants.delete_tenant(&args.id).await;
            tenants.store().close().await;
            deleted?;
            println!("tenant {} deleted", args.id);
        }
    }
    Ok(0)
}

pub async fn run_event(command: EventCommand) -> anyhow::Result<i32> {
    if let Some(client) = command.remote().client()? {
        return super::tenant_remote::run_event(&client, command).await;
    }
    match command {
        EventCommand::Post(args) => {
            let payload =
                crate::queue::Queue::parse_payload(args.payload.as_deref().unwrap_or("{}"))?;
            let (_, store) = settings_and_store(&args.settings).await?;
            let posted = Events::new(store.clone())
                .post(PostEvent {
                    tenant: args.tenant,
                    event_type: args.event_type,
                    payload,
                    idempotency_key: args.idempotency_key,
                    source: Some("cli".to_owned()),
                })
                .await;
            store.close().await;
            let posted = posted?;
            if args.json {
                println!("{}", serde_json::to_string(&posted)?);
            } else if posted.created {
                println!(
                    "event {} posted; {} enqueued",
                    posted.event_id,
                    crate::words::count(posted.jobs as u64, "job")
                );
            } else {
                println!(
                    "event {} already posted with this idempotency key; nothing done",
                    posted.event_id
                );
            }
        }
        EventCommand::List(args) => {
            let (_, store) = settings_and_store(&args.settings).await?;
            let events = store
                .event_list(EventFilter {
                    tenant: args.tenant,
                    event_type: args.event_type,
                    limit: args.limit,
                    ..EventFilter::default()
                })
                .await;
            store.close().await;
            let events = events?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&events)?);
            } else {
                println!(
                    "{:>8}  {:<16}  {:<24}  {:>10}",
                    "id", "tenant", "type", "deliveries"
                );
                for event in &events {
                    println!(
                        "{:>8}  {:<16}  {:<24}  {:>10}",
                        event.id,
                        event.tenant,
                        event.event_type,
                        event
                            .deliveries
                            .map_or("pending".to_owned(), |count| count.to_string())
                    );
                }
            }
        }
    }
    Ok(0)
}
