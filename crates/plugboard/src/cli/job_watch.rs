//! `plugboard job watch`: jobs as they change, one line each, from the store opened directly or
//! over the API (`--url`, the SSE stream of `GET /api/v1/jobs/changes`).

use std::io::Write;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::job::WatchArgs;
use super::output::text;
use crate::store::{ChangeCursor, ChangeFilter, JobId, JobStatus};

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

pub async fn remote(client: &ApiClient, args: WatchArgs) -> anyhow::Result<i32> {
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

pub async fn local(args: WatchArgs) -> anyhow::Result<i32> {
    let after = args
        .after
        .as_deref()
        .map(str::parse::<ChangeCursor>)
        .transpose()
        .map_err(|reason| anyhow::anyhow!("--after: {reason}"))?;
    let queue = super::job::open(&args.settings).await?;
    let filter = ChangeFilter {
        job: args.id.map(JobId),
        tenant: args.tenant,
        plugin: args.plugin,
        queue: args.queue,
        kind: args.kind,
    };
    if let Some(id) = filter.job {
        // Says "no such job" before waiting for changes of one.
        queue.get(id).await?;
    }
    let after = match (after, args.id) {
        (Some(after), _) => after,
        (None, Some(_)) => ChangeCursor::START,
        (None, None) => queue.change_head().await?,
    };
    let mut changes = queue.follow_changes(filter, after, args.id.is_some());
    let mut stdout = std::io::stdout().lock();
    header(&mut stdout, args.json)?;
    let mut last_status: Option<JobStatus> = None;
    loop {
        let change = tokio::select! {
            change = changes.recv() => change,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(change) = change else { break };
        let change = change?;
        last_status = Some(change.job.status);
        let job = serde_json::to_value(&change.job)?;
        print_change(&mut stdout, args.json, &change.cursor.to_string(), &job)?;
    }
    queue.store().close().await;
    Ok(if args.id.is_some() {
        exit_code(last_status.map(JobStatus::as_str))
    } else {
        0
    })
}
