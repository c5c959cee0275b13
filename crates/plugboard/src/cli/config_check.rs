//! `plugboard config validate|test`: the server checks the values
//! (`POST /api/v1/tenants/{tenant}/configs/validate` for proposed `--values`,
//! `POST /api/v1/configs/{id}/validate` for the stored config) and its running plugin answers
//! the test (`POST /api/v1/configs/{id}/test`). Exit code 1 when the config is invalid or the
//! test fails.

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::config::PluginCallArgs;
use super::output::{encode, text};

/// Exit code 0 when valid, 1 with the problems printed when not.
pub async fn validate(client: &ApiClient, args: &PluginCallArgs) -> anyhow::Result<i32> {
    let name = &args.config;
    let (valid, problems) = match &args.values {
        Some(values) => {
            let values: Value = serde_json::from_str(values).context("--values is not JSON")?;
            let path = format!("/api/v1/tenants/{}/configs/validate", encode(&name.tenant));
            let body = json!({"plugin": name.plugin, "name": name.name, "values": values});
            let (status, answer) = client.call_answer(Method::POST, &path, Some(body)).await?;
            match status {
                200 => (true, Vec::new()),
                422 => {
                    let mut problems: Vec<String> = answer["errors"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|error| {
                            format!("{}: {}", text(&error["pointer"]), text(&error["detail"]))
                        })
                        .collect();
                    if problems.is_empty() {
                        problems.push(text(&answer["detail"]));
                    }
                    (false, problems)
                }
                _ => bail!("{} (HTTP {status})", text(&answer["detail"])),
            }
        }
        None => {
            let id = config_id(client, args).await?;
            let answer = client
                .call(
                    Method::POST,
                    &format!("/api/v1/configs/{}/validate", encode(&id)),
                    None,
                )
                .await?;
            let problems: Vec<String> = answer["problems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            (answer["valid"] == json!(true), problems)
        }
    };
    if args.json {
        println!("{}", json!({"valid": valid, "problems": problems}));
    } else if valid {
        println!("valid");
    } else {
        println!("invalid:");
        for problem in &problems {
            println!("  {problem}");
        }
    }
    Ok(if valid { 0 } else { 1 })
}

/// Exit code 0 when the plugin's test passed, 1 when it failed.
pub async fn test(client: &ApiClient, args: &PluginCallArgs) -> anyhow::Result<i32> {
    let id = config_id(client, args).await?;
    let seconds = args.timeout.as_secs().clamp(1, 300);
    let answer = client
        .call(
            Method::POST,
            &format!(
                "/api/v1/configs/{}/test?timeout_seconds={seconds}",
                encode(&id)
            ),
            None,
        )
        .await?;
    let ok = answer["ok"] == json!(true);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!(
            "{}: {}",
            if ok { "ok" } else { "failed" },
            text(&answer["message"])
        );
        if !answer["details"].is_null() {
            println!("{}", answer["details"]);
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// The id of the config named by tenant, plugin and name.
async fn config_id(client: &ApiClient, args: &PluginCallArgs) -> anyhow::Result<String> {
    let name = &args.config;
    let listed = client
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/configs", encode(&name.tenant)),
            None,
        )
        .await?;
    listed["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|config| config["plugin"] == json!(name.plugin) && config["name"] == json!(name.name))
        .and_then(|config| config["id"].as_str())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "tenant {} has no config `{}` for plugin {}; `plugboard config list --tenant {}` shows its configs",
                name.tenant, name.name, name.plugin, name.tenant
            )
        })
}
