//! `plugboard job …`: enqueue, import, list, show, cancel, retry, read or follow logs, and watch
//! jobs change, each a call of the server's API (`/api/v1/jobs`): the server named by `--url`,
//! `PLUGBOARD_URL` or a profile, else the one running on the data directory.
//!
//! `--json` prints what the API answered, as it answered it; the human output reads the same
//! answer through the API's own view types.

use std::io::Write;

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::ClientArgs;
use super::output::{print_json, text, Table};
use crate::api::{CancelResult, JobPage, JobView, LogLineView, LogPage};

#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// Add a job to the queue and print its id
    Enqueue(EnqueueArgs),
    /// Enqueue many jobs read as NDJSON (one `POST /api/v1/jobs` body per line) from a file or
    /// stdin, in batches
    Import(super::job_import::ImportArgs),
    /// List jobs, newest first
    List(ListArgs),
    /// Show one job
    Show(IdArgs),
    /// Cancel a job: at once if queued; a running job is told to stop
    Cancel(IdArgs),
    /// Put a failed or cancelled job back in the queue
    Retry(IdArgs),
    /// Print a job's log; --follow keeps printing until the job finishes
    Logs(LogsArgs),
    /// Print jobs as they change (one line per change), until Ctrl-C; with an ID, that job until
    /// it finishes, exiting 0 if it succeeded and 1 if not
    Watch(WatchArgs),
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Follow this job only
    pub id: Option<i64>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub plugin: Option<String>,
    #[arg(long)]
    pub queue: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    /// Start after this change position (a change's `position`; 0-0 for every job first)
    /// [default: from now; with an ID, from the job's current state]
    #[arg(long, value_name = "POSITION")]
    pub after: Option<String>,
    /// One JSON object per line: {"position", "job"}
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct EnqueueArgs {
    /// Job kind (`noop` is built in)
    pub kind: String,
    /// Payload as JSON [default: {}]
    pub payload: Option<String>,
    /// Queue name
    #[arg(long, default_value = "default")]
    pub queue: String,
    /// Lower runs first
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub priority: i32,
    /// Run no earlier than this many milliseconds from now
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    #[arg(long, default_value_t = 3)]
    pub max_attempts: i32,
    /// Per-attempt timeout [default: the server's job timeout]
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<i64>,
    /// A second enqueue with the same key returns the first job instead of adding one
    #[arg(long)]
    pub unique_key: Option<String>,
    /// With `plugin.run`: run with this config (by id); the host fills in the payload's `config`
    /// and `trigger`, which a payload may not carry itself
    #[arg(long, value_name = "ID")]
    pub config_id: Option<String>,
    /// Print the answer as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub status: Option<crate::store::JobStatus>,
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub queue: Option<String>,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub plugin: Option<String>,
    /// Only jobs with an id below this one (the next page)
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    pub id: i64,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    pub id: i64,
    /// Keep printing new lines until the job finishes
    #[arg(long, short)]
    pub follow: bool,
    /// Start after this sequence number
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    pub after: i64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(command: JobCommand) -> anyhow::Result<i32> {
    let client = match &command {
        JobCommand::Enqueue(args) => &args.client,
        JobCommand::Import(args) => &args.client,
        JobCommand::List(args) => &args.client,
        JobCommand::Show(args) | JobCommand::Cancel(args) | JobCommand::Retry(args) => &args.client,
        JobCommand::Logs(args) => &args.client,
        JobCommand::Watch(args) => &args.client,
    }
    .connect()?;
    let client = &client;
    match command {
        JobCommand::Watch(args) => return super::job_watch::run(client, args).await,
        JobCommand::Import(args) => return super::job_import::run(client, args).await,
        JobCommand::Enqueue(args) => {
            let payload: Value = serde_json::from_str(args.payload.as_deref().unwrap_or("{}"))
                .map_err(|error| {
                    anyhow::anyhow!("the payload is not valid JSON: {error}; write it as JSON, e.g. '{{\"n\": 1}}'")
                })?;
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
            let answer = client
                .call(Method::POST, "/api/v1/jobs", Some(body))
                .await?;
            if args.json {
                print_json(&answer)?;
            } else {
                println!("{}", view::<JobView>(&answer)?.id);
            }
        }
        JobCommand::List(args) => {
            let query = super::output::query(&[
                ("limit", Some(args.limit.to_string())),
                (
                    "status",
                    args.status.map(|status| status.as_str().to_owned()),
                ),
                ("kind", args.kind),
                ("queue", args.queue),
                ("tenant", args.tenant),
                ("plugin", args.plugin),
                ("cursor", args.before.map(|id| id.to_string())),
            ]);
            let answer = client
                .call(Method::GET, &format!("/api/v1/jobs{query}"), None)
                .await?;
            if args.json {
                print_json(&answer)?;
            } else {
                let page = view::<JobPage>(&answer)?;
                let mut table = Table::new(["id", "status", "kind", "queue", "attempt", "error"]);
                for job in &page.jobs {
                    table.row([
                        job.id.to_string(),
                        job.status.clone(),
                        job.kind.clone(),
                        job.queue.clone(),
                        format!("{}/{}", job.attempt, job.max_attempts),
                        job.error.clone().unwrap_or_default(),
                    ]);
                }
                table.print()?;
                if let Some(cursor) = page.next_cursor {
                    println!("(more: --before {cursor})");
                }
            }
        }
        JobCommand::Show(args) => {
            let answer = client
                .call(Method::GET, &format!("/api/v1/jobs/{}", args.id), None)
                .await?;
            if args.json {
                print_json(&answer)?;
            } else {
                print_job(&view::<JobView>(&answer)?)?;
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
                print_json(&answer)?;
            } else {
                let result = view::<CancelResult>(&answer)?;
                match result.outcome.as_str() {
                    "cancelled" => println!("job {} cancelled", args.id),
                    "requested" => {
                        println!("job {} is running; it has been asked to stop", args.id)
                    }
                    _ => println!(
                        "job {} had already finished ({}); nothing changed",
                        args.id, result.job.status
                    ),
                }
            }
        }
        JobCommand::Retry(args) => {
            let answer = client
                .call(
                    Method::POST,
                    &format!("/api/v1/jobs/{}/retry", args.id),
                    None,
                )
                .await?;
            if args.json {
                print_json(&answer)?;
            } else {
                println!("job {} is queued again", view::<JobView>(&answer)?.id);
            }
        }
        JobCommand::Logs(args) => {
            let mut stdout = std::io::stdout().lock();
            if args.follow {
                super::follow::stream_logs(client, args.id, args.after, |line| {
                    print_line(&mut stdout, &view::<LogLineView>(line)?)
                })
                .await?;
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
                    let page = view::<LogPage>(&page)?;
                    if page.lines.is_empty() {
                        break;
                    }
                    for line in &page.lines {
                        print_line(&mut stdout, line)?;
                    }
                    after = page.next_after_seq;
                }
            }
        }
    }
    Ok(0)
}

/// The API's answer as one of its view types.
fn view<T: serde::de::DeserializeOwned>(answer: &Value) -> anyhow::Result<T> {
    T::deserialize(answer).context("the server's answer is not what this plugboard expects; are the CLI and the server the same version?")
}

fn print_job(job: &JobView) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut field = |name: &str, value: String| writeln!(stdout, "{name:<13} {value}");
    field("id", job.id.to_string())?;
    field("kind", job.kind.clone())?;
    field("queue", job.queue.clone())?;
    for (name, value) in [
        ("tenant", &job.tenant),
        ("plugin", &job.plugin),
        ("config", &job.config),
    ] {
        if let Some(value) = value {
            field(name, value.clone())?;
        }
    }
    field("status", job.status.clone())?;
    field("attempt", format!("{}/{}", job.attempt, job.max_attempts))?;
    field("priority", job.priority.to_string())?;
    field("payload", job.payload.to_string())?;
    for (name, value) in [("result", &job.result), ("progress", &job.progress)] {
        if let Some(value) = value.as_ref().filter(|value| !value.is_null()) {
            field(name, text(value))?;
        }
    }
    if let Some(error) = &job.error {
        field("error", error.clone())?;
    }
    if job.status == "queued" {
        field("run at", job.run_at.clone())?;
    }
    field("created", job.created_at.clone())?;
    for (name, value) in [("started", &job.started_at), ("finished", &job.finished_at)] {
        if let Some(value) = value {
            field(name, value.clone())?;
        }
    }
    for reason in job.waiting_for.iter().flatten() {
        field("waiting for", reason.clone())?;
    }
    Ok(())
}

fn print_line(stdout: &mut impl Write, line: &LogLineView) -> anyhow::Result<()> {
    writeln!(stdout, "{:>5} {:<5} {}", line.seq, line.level, line.message)
        .context("writing to stdout")
}
