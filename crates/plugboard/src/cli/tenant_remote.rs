//! `plugboard tenant …` and `plugboard event …` over the HTTP API (`/api/v1/tenants`,
//! `/api/v1/events`): the same commands and tables as with the store opened directly.

use reqwest::Method;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::output::{encode, or_dash, print_json, query, text};
use super::tenant::{EventCommand, TenantCommand};

pub async fn run_tenant(client: &ApiClient, command: TenantCommand) -> anyhow::Result<i32> {
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
                println!("{:<24}  name", "id");
                for tenant in answer["tenants"].as_array().into_iter().flatten() {
                    println!("{:<24}  {}", text(&tenant["id"]), text(&tenant["name"]));
                }
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
                print_json(&json!({"tenant": tenant, "configs": configs["configs"]}))?;
            } else {
                println!("tenant {} ({})", text(&tenant["id"]), text(&tenant["name"]));
                for config in configs["configs"].as_array().into_iter().flatten() {
                    print_config_line(config);
                }
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
            if args.json {
                print_json(&json!({"id": args.id, "deleted": true}))?;
            } else {
                println!("tenant {} deleted", args.id);
            }
        }
    }
    Ok(0)
}

/// One line of a config listing, from the API's config.
pub fn print_config_line(config: &Value) {
    let state = match (&config["invalid_reason"], config["enabled"].as_bool()) {
        (Value::String(_), _) => "invalid",
        (_, Some(false)) => "disabled",
        _ => "enabled",
    };
    println!(
        "{:<22}  {:<16}  {:<16}  {:<16}  {:<8}  {}",
        text(&config["id"]),
        text(&config["tenant"]),
        text(&config["plugin"]),
        text(&config["name"]),
        state,
        or_dash(&config["next_fires"][0])
    );
}

pub async fn run_event(client: &ApiClient, command: EventCommand) -> anyhow::Result<i32> {
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
                println!(
                    "{:>8}  {:<16}  {:<24}  {:>10}",
                    "id", "tenant", "type", "deliveries"
                );
                for event in page["events"].as_array().into_iter().flatten() {
                    println!(
                        "{:>8}  {:<16}  {:<24}  {:>10}",
                        text(&event["id"]),
                        text(&event["tenant"]),
                        text(&event["type"]),
                        match &event["deliveries"] {
                            Value::Null => "pending".to_owned(),
                            count => count.to_string(),
                        }
                    );
                }
                if let Some(cursor) = page["next_cursor"].as_str() {
                    println!("(more after event {cursor}: the API pages with cursor={cursor})");
                }
            }
        }
    }
    Ok(0)
}
