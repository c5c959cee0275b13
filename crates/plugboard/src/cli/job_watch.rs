//! `plugboard job watch`: jobs as they change, one line each, from the SSE stream of
//! `GET /api/v1/jobs/changes`.

use std::io::Write;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::job::WatchArgs;
use super::output::text;

/// One change as a line: position, id, status, kind, queue, attempt, error.
fn print_change(
    stdout: &mut impl Write,
    json: bool,
    position: &str,
    job: &Value,
) -> anyhow::Result<()> {
    if json {
        writeln!(stdout, "{}", json!({"position": position, "job": job}))
    } else {
        writeln!(
            stdout,
            "{:<14}  {:>8}  {:<10}  {:<14}  {:<10}  {:>7}  {}",
            position,
            text(&job["id"]),
            text(&job["status"]),
            text(&job["kind"]),
            text(&job["queue"]),
            format!("{}/{}", text(&job["attempt"]), text(&job["max_attempts"])),
            text(&job["error"])
        )
    }
    .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")
}

fn header(stdout: &mut impl Write, json: bool) -> anyhow::Result<()> {
    if !json {
        writeln!(
            stdout,
            "{:<14}  {:>8}  {:<10}  {:<14}  {:<10}  {:>7}  error",
            "position", "id", "status", "kind", "queue", "attempt"
        )
        .context("writing to stdout")?;
    }
    Ok(())
}

/// The exit code once a watched job ended: 0 when it succeeded.
fn exit_code(last_status: Option<&str>) -> i32 {
    i32::from(last_status != Some("succeeded"))
}

pub async fn run(client: &ApiClient, args: WatchArgs) -> anyhow::Result<i32> {
    let path = match args.id {
        Some(id) => format!("/api/v1/jobs/{id}/changes"),
        None => {
            let filters: Vec<String> = [
                ("tenant", &args.tenant),
                ("plugin", &args.plugin),
                ("queue", &args.queue),
                ("kind", &args.kind),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|value| format!("{name}={value}")))
            .collect();
            if filters.is_empty() {
                "/api/v1/jobs/changes".to_owned()
            } else {
                format!("/api/v1/jobs/changes?{}", filters.join("&"))
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    header(&mut stdout, args.json)?;
    let mut last_status = None;
    super::follow::stream_changes(client, &path, args.after, |position, job| {
        last_status = job["status"].as_str().map(str::to_owned);
        print_change(&mut stdout, args.json, position, job)?;
        Ok(false)
    })
    .await?;
    Ok(exit_code(last_status.as_deref()))
}
