//! `plugboard config …`: a tenant's plugin configs: set, list, show (with next fires), validate,
//! test, run now, enable, disable, delete, each a call of the server's API.
//!
//! The CLI names a config by tenant, plugin and name; the API by id, found in the tenant's list
//! (`GET /api/v1/tenants/{tenant}/configs`). `config set` keeps what is not given: it reads the
//! config and sends the merged whole with `PUT` (a secret shown as `********` keeps its stored
//! value), or creates it with `POST` when the tenant has none of that name. The server's running
//! plugin answers `config validate` (its `config/validate`) and `config test`
//! (`config_check.rs`).

use std::time::Duration;

use anyhow::bail;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::{ApiClient, ClientArgs};
use super::output::{encode, or_dash, print_json, text, Table};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Create or change a config; what is not given is kept
    Set(SetArgs),
    /// List configs
    List(ListArgs),
    /// Show a config (secrets hidden) and its next fire times
    Show(NameArgs),
    /// Check a config's values (or proposed ones with --values) against the plugin's schema and
    /// the plugin's own config/validate, which the server's running plugin answers
    Validate(PluginCallArgs),
    /// Run the plugin's config/test with a config's values and print its answer (the server's
    /// running plugin answers)
    Test(PluginCallArgs),
    /// Enqueue a manual run of a config now
    RunNow(NameArgs),
    /// Enable a config; its schedule starts from now
    Enable(NameArgs),
    /// Disable a config: no schedule fires, no events
    Disable(NameArgs),
    /// Delete a config
    Delete(NameArgs),
}

/// Which config: tenant, plugin and name.
#[derive(Debug, clap::Args)]
pub struct ConfigName {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub plugin: String,
    /// The config's name, unique per tenant and plugin
    #[arg(long, default_value = "default")]
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub config: ConfigName,
    /// The values as JSON, checked against the plugin's config schema
    #[arg(long, value_name = "JSON")]
    pub values: Option<String>,
    /// The schedule as JSON, e.g. {"cron": "0 */5 * * * *", "timezone": "Europe/Berlin"} or
    /// {"interval_seconds": 300}; `none` removes it
    #[arg(long, value_name = "JSON")]
    pub schedule: Option<String>,
    /// Event type patterns to subscribe to (form.submitted, form.*), comma-separated; an
    /// empty string removes them
    #[arg(long, value_name = "PATTERNS")]
    pub events: Option<String>,
    #[arg(long)]
    pub disabled: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub plugin: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    #[command(flatten)]
    pub config: ConfigName,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct PluginCallArgs {
    #[command(flatten)]
    pub config: ConfigName,
    /// validate: check these values (JSON) as creating the config would, instead of the stored
    /// config's; nothing is stored
    #[arg(long, value_name = "JSON")]
    pub values: Option<String>,
    /// How long to wait for the plugin
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(command: ConfigCommand) -> anyhow::Result<i32> {
    let client = match &command {
        ConfigCommand::Set(args) => &args.client,
        ConfigCommand::List(args) => &args.client,
        ConfigCommand::Validate(args) | ConfigCommand::Test(args) => &args.client,
        ConfigCommand::Show(args)
        | ConfigCommand::RunNow(args)
        | ConfigCommand::Enable(args)
        | ConfigCommand::Disable(args)
        | ConfigCommand::Delete(args) => &args.client,
    }
    .connect()?;
    let client = &client;
    match command {
        ConfigCommand::Set(args) => {
            let values = args
                .values
                .as_deref()
                .map(serde_json::from_str::<Value>)
                .transpose()
                .map_err(|error| anyhow::anyhow!("--values is not JSON: {error}"))?;
            let schedule = match args.schedule.as_deref() {
                None => None,
                Some("none") => Some(Value::Null),
                Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|error| {
                    anyhow::anyhow!("--schedule is not JSON: {error}; e.g. '{{\"interval_seconds\": 300}}', or `none`")
                })?),
            };
            let events = args.events.as_deref().map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|pattern| !pattern.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
            let name = &args.config;
            let config = match find(client, name).await? {
                Some(existing) => {
                    let body = json!({
                        "values": values.unwrap_or_else(|| existing["values"].clone()),
                        "schedule": schedule.unwrap_or_else(|| existing["schedule"].clone()),
                        "events": events.map_or_else(|| existing["events"].clone(), |events| json!(events)),
                        "enabled": if args.disabled { json!(false) } else { existing["enabled"].clone() },
                    });
                    client
                        .call(Method::PUT, &config_path(&existing, ""), Some(body))
                        .await?
                }
                None => {
                    let mut body = json!({
                        "plugin": name.plugin,
                        "name": name.name,
                        "values": values.unwrap_or_else(|| json!({})),
                        "events": events.unwrap_or_default(),
                        "enabled": !args.disabled,
                    });
                    // Absent: the plugin's default schedule; `none` (null): no schedule.
                    if let Some(schedule) = schedule {
                        body["schedule"] = schedule;
                    }
                    client
                        .call(
                            Method::POST,
                            &format!("/api/v1/tenants/{}/configs", encode(&name.tenant)),
                            Some(body),
                        )
                        .await?
                }
            };
            print_config(&config, args.json)?;
        }
        ConfigCommand::List(args) => {
            let tenants = match args.tenant {
                Some(tenant) => vec![tenant],
                None => client.call(Method::GET, "/api/v1/tenants", None).await?["tenants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|tenant| text(&tenant["id"]))
                    .collect(),
            };
            let mut configs = Vec::new();
            for tenant in tenants {
                let page = client
                    .call(
                        Method::GET,
                        &format!("/api/v1/tenants/{}/configs", encode(&tenant)),
                        None,
                    )
                    .await?;
                configs.extend(
                    page["configs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|config| {
                            args.plugin
                                .as_ref()
                                .is_none_or(|plugin| config["plugin"] == json!(plugin))
                        })
                        .cloned(),
                );
            }
            if args.json {
                print_json(&json!({"configs": configs}))?;
            } else {
                print_configs(&configs)?;
            }
        }
        ConfigCommand::Show(args) => {
            let config = get(client, &args.config).await?;
            let config = client
                .call(Method::GET, &config_path(&config, ""), None)
                .await?;
            print_config(&config, args.json)?;
        }
        ConfigCommand::Validate(args) => return super::config_check::validate(client, &args).await,
        ConfigCommand::Test(args) => return super::config_check::test(client, &args).await,
        ConfigCommand::RunNow(args) => {
            let config = get(client, &args.config).await?;
            let job = client
                .call(Method::POST, &config_path(&config, "/run"), None)
                .await?;
            if args.json {
                print_json(&job)?;
            } else {
                println!("job {} enqueued", job["id"]);
            }
        }
        ConfigCommand::Enable(args) => set_enabled(client, &args.config, true, args.json).await?,
        ConfigCommand::Disable(args) => set_enabled(client, &args.config, false, args.json).await?,
        ConfigCommand::Delete(args) => {
            let config = get(client, &args.config).await?;
            client
                .call(Method::DELETE, &config_path(&config, ""), None)
                .await?;
            // With --json, nothing: the API answers 204 without a body.
            if !args.json {
                let name = &args.config;
                println!(
                    "config {} of {} for {} deleted",
                    name.name, name.plugin, name.tenant
                );
            }
        }
    }
    Ok(0)
}

/// `/api/v1/configs/{id}{rest}`.
fn config_path(config: &Value, rest: &str) -> String {
    format!("/api/v1/configs/{}{rest}", encode(&text(&config["id"])))
}

/// The tenant's config of this plugin and name, if it has one.
async fn find(client: &ApiClient, name: &ConfigName) -> anyhow::Result<Option<Value>> {
    let page = client
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/configs", encode(&name.tenant)),
            None,
        )
        .await?;
    Ok(page["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|config| config["plugin"] == json!(name.plugin) && config["name"] == json!(name.name))
        .cloned())
}

async fn get(client: &ApiClient, name: &ConfigName) -> anyhow::Result<Value> {
    match find(client, name).await? {
        Some(config) => Ok(config),
        None => bail!(
            "tenant {} has no config `{}` of plugin {}; `plugboard config list --tenant {}` shows its configs",
            name.tenant,
            name.name,
            name.plugin,
            name.tenant
        ),
    }
}

async fn set_enabled(
    client: &ApiClient,
    name: &ConfigName,
    enabled: bool,
    json: bool,
) -> anyhow::Result<()> {
    let existing = get(client, name).await?;
    let body = json!({
        "values": existing["values"],
        "schedule": existing["schedule"],
        "events": existing["events"],
        "enabled": enabled,
    });
    let config = client
        .call(Method::PUT, &config_path(&existing, ""), Some(body))
        .await?;
    print_config(&config, json)
}

fn print_config(config: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(config);
    }
    println!(
        "config {} ({} / {} / {})",
        text(&config["id"]),
        text(&config["tenant"]),
        text(&config["plugin"]),
        text(&config["name"])
    );
    println!("enabled:   {}", config["enabled"]);
    if !config["invalid_reason"].is_null() {
        println!("INVALID:   {}", text(&config["invalid_reason"]));
    }
    println!("values:    {}", config["values"]);
    match &config["schedule"] {
        Value::Null => println!("schedule:  none"),
        schedule => println!("schedule:  {schedule}"),
    }
    let events: Vec<String> = config["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    println!(
        "events:    {}",
        if events.is_empty() {
            "none".to_owned()
        } else {
            events.join(", ")
        }
    );
    let fires: Vec<String> = config["next_fires"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !fires.is_empty() {
        println!("next fires:");
        for fire in &fires {
            println!("  {fire}");
        }
    }
    Ok(())
}

/// A table of configs as the API shows them.
pub fn print_configs(configs: &[Value]) -> anyhow::Result<()> {
    let mut table = Table::new(["id", "tenant", "plugin", "name", "state", "next fire"]);
    for config in configs {
        let state = match (&config["invalid_reason"], config["enabled"].as_bool()) {
            (Value::String(_), _) => "invalid",
            (_, Some(false)) => "disabled",
            _ => "enabled",
        };
        table.row([
            text(&config["id"]),
            text(&config["tenant"]),
            text(&config["plugin"]),
            text(&config["name"]),
            state.to_owned(),
            or_dash(&config["next_fires"][0]),
        ]);
    }
    table.print()
}
