//! `plugboard job …` over the HTTP API (`--url`): the same commands and output as with the store
//! opened directly, from `/api/v1/jobs`.

use std::io::Write;

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::job::JobCommand;
use super::output::{encode, text};

pub async fn run(client: &ApiClient, command: JobCommand) -> anyhow::Result<i32> {
    match command {
        JobCommand::Watch(args) => return super::job_watch::remote(client, args).await,
        JobCommand::Import(args) => return super::job_import::run(client, args).await,
        JobCommand::Enqueue(args) => {
            let payload: Value = serde_json::from_str(args.payload.as_deref().unwrap_or("{}"))
                .context("the payload is not valid JSON")?;
            let mut body = json!({
                "kind": args.kind,
                "payload": payload,
                "queue": args.queue,
                "priority": args.priority,
                "max_attempts": args.max_attempts,
            });
            if let Some(delay) = args.delay_ms {
                let at = std::time::SystemTime::now() + std::time::Duration::from_millis(delay);
                body["run_at"] = json!(humantime::format_rfc3339_micros(at).to_string());
            }
            if let Some(timeout) = args.timeout_ms {
                body["timeout_ms"] = json!(timeout);
            }
            if let Some(key) = args.unique_key {
                body["unique_key"] = json!(key);
            }
            if let Some(config) = args.config_id {
                body["config"] = json!(config);
            }
            let job = client
                .call(Method::POST, "/api/v1/jobs", Some(body))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                println!("{}", job["id"]);
            }
        }
        JobCommand::List(args) => {
            let mut query = vec![format!("limit={}", args.limit)];
            let mut add = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    query.push(format!("{name}={}", encode(&value)));
                }
            };
            add(
                "status",
                args.status.map(|status| status.as_str().to_owned()),
            );
            add("kind", args.kind);
            add("queue", args.queue);
            add("tenant", args.tenant);
            add("plugin", args.plugin);
            add("cursor", args.before.map(|id| id.to_string()));
            let page = client
                .call(
                    Method::GET,
                    &format!("/api/v1/jobs?{}", query.join("&")),
                    None,
                )
                .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&page["jobs"])?);
            } else {
                println!(
                    "{:>8}  {:<10}  {:<12}  {:<12}  {:>7}  error",
                    "id", "status", "kind", "queue", "attempt"
                );
                for job in page["jobs"].as_array().into_iter().flatten() {
                    println!(
                        "{:>8}  {:<10}  {:<12}  {:<12}  {:>7}  {}",
                        job["id"],
                        text(&job["status"]),
                        text(&job["kind"]),
                        text(&job["queue"]),
                        format!("{}/{}", job["attempt"], job["max_attempts"]),
                        text(&job["error"])
                    );
                }
                if let Some(cursor) = page["next_cursor"].as_str() {
                    println!("(more: --before {cursor})");
                }
            }
        }
        JobCommand::Show(args) => {
            let job = client
                .call(Method::GET, &format!("/api/v1/jobs/{}", args.id), None)
                .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                for field in [
                    "id",
                    "kind",
                    "queue",
                    "tenant",
                    "plugin",
                    "status",
                    "attempt",
                    "priority",
                    "payload",
                    "result",
                    "error",
                    "progress",
                    "created_at",
                    "started_at",
                    "finished_at",
                ] {
                    if !job[field].is_null() {
                        println!("{field:<13} {}", text(&job[field]));
                    }
                }
                for reason in job["waiting_for"].as_array().into_iter().flatten() {
                    println!("{:<13} {}", "waiting for", text(reason));
                }
            }
        }
        JobCommand::Cancel(args) => {
            let answer = client
                .call(
                    Method::POST,
                    &format!("/api/v1/jobs/{}/cancel", args.id),
                    None,
                )
                .await?;
            if args.json {
                println!("{}", json!({"id": args.id, "cancel": answer["outcome"]}));
            } else {
                match answer["outcome"].as_str() {
                    Some("cancelled") => println!("job {} cancelled", args.id),
                    Some("requested") => {
                        println!("job {} is running; it has been asked to stop", args.id)
                    }
                    _ => println!(
                        "job {} had already finished ({}); nothing changed",
                        args.id,
                        text(&answer["job"]["status"])
                    ),
                }
            }
        }
        JobCommand::Retry(args) => {
            let job = client
                .call(
                    Method::POST,
                    &format!("/api/v1/jobs/{}/retry", args.id),
                    None,
                )
                .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                println!("job {} is queued again", job["id"]);
            }
        }
        JobCommand::Logs(args) => {
            let mut stdout = std::io::stdout().lock();
            if args.follow {
                follow(client, args.id, args.after, &mut stdout).await?;
            } else {
                let mut after = args.after;
                loop {
                    let page = client
                        .call(
                            Method::GET,
                            &format!("/api/v1/jobs/{}/logs?after_seq={after}&limit=1000", args.id),
                            None,
                        )
                        .await?;
                    let lines = page["lines"].as_array().cloned().unwrap_or_default();
                    if lines.is_empty() {
                        break;
                    }
                    for line in &lines {
                        print_line(&mut stdout, line)?;
                    }
                    after = page["next_after_seq"].as_i64().unwrap_or(after);
                }
            }
        }
    }
    Ok(0)
}

/// Follows the SSE stream, reconnecting after the last line seen when the connection drops.
async fn follow(
    client: &ApiClient,
    id: i64,
    after: i64,
    stdout: &mut impl Write,
) -> anyhow::Result<()> {
    super::follow::stream_logs(client, id, after, |line| print_line(stdout, line)).await
}

fn print_line(stdout: &mut impl Write, line: &Value) -> anyhow::Result<()> {
    writeln!(
        stdout,
        "{:>5} {:<5} {}",
        line["seq"],
        text(&line["level"]),
        text(&line["message"])
    )
    .context("writing to stdout")
}
