//! `plugboard config …` over the HTTP API. The CLI names a config by tenant, plugin and name;
//! the API by id, found in the tenant's list (`GET /api/v1/tenants/{tenant}/configs`).
//!
//! `config set` keeps what is not given, as with the store opened directly: it reads the
//! config and sends the merged whole with `PUT` (a secret shown as `********` keeps its stored
//! value), or creates it with `POST` when the tenant has none of that name. The server's running
//! plugin answers `config validate` (its `config/validate`) and `config test`; `--plugin-dir`,
//! which starts the plugin in this process without a server, is not needed.

use anyhow::bail;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::config::{ConfigCommand, ConfigName};
use super::output::{encode, print_json, text};
use super::tenant_remote::print_config_line;

pub async fn run(client: &ApiClient, command: ConfigCommand) -> anyhow::Result<i32> {
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
                println!(
                    "{:<22}  {:<16}  {:<16}  {:<16}  {:<8}  next fire",
                    "id", "tenant", "plugin", "name", "state"
                );
                for config in &configs {
                    print_config_line(config);
                }
            }
        }
        ConfigCommand::Show(args) => {
            let config = get(client, &args.config).await?;
            let config = client
                .call(Method::GET, &config_path(&config, ""), None)
                .await?;
            print_config(&config, args.json)?;
        }
        ConfigCommand::Validate(args) => {
            if args.plugin_dir.is_some() {
                eprintln!("note: --plugin-dir is not used with a server: the server's running plugin checks the values");
            }
            return super::config_check_remote::validate(client, &args).await;
        }
        ConfigCommand::Test(args) => {
            return super::config_check_remote::test(client, &args).await;
        }
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
            if args.json {
                print_json(&json!({"id": config["id"], "deleted": true}))?;
            } else {
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
