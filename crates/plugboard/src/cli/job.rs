//! `plugboard job …`: enqueue, list, show, cancel, retry, and read or follow logs.
//!
//! With a server named (`--url`, `PLUGBOARD_URL` or a profile) each command calls the server's
//! API (`job_remote.rs`);
//! without it, it opens the store the settings name, so it must run where the data directory or
//! the PostgreSQL database is reachable.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::client::RemoteArgs;
use crate::config::SettingsArgs;
use crate::queue::{Queue, Registry};
use crate::store::{CancelOutcome, Job, JobFilter, JobId, JobStatus, NewJob, Timestamp};

#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// Add a job to the queue and print its id
    Enqueue(EnqueueArgs),
    /// Enqueue many jobs read as NDJSON (one `POST /api/v1/jobs` body per line) from a file or
    /// stdin, in batches over the API (needs a server: --url, PLUGBOARD_URL or a profile)
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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub status: Option<JobStatus>,
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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    pub id: i64,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// The queue of the store the settings name, with every job kind this plugboard knows (for
/// checking payloads; this process runs none).
pub(super) async fn open(settings: &SettingsArgs) -> anyhow::Result<Queue> {
    let resolved = crate::config::Settings::resolve(settings)?;
    if let crate::config::Database::Sqlite { path, .. } = &resolved.database {
        if !path.is_file() {
            anyhow::bail!(
                "there is no plugboard database at {}; pass the --data-dir of your server (or set PLUGBOARD_DATA_DIR), or start `plugboard serve` there first",
                path.display()
            );
        }
    }
    let store = super::open_store(&resolved).await?;
    let mut registry = Registry::with_builtin_kinds();
    registry.register(
        crate::plugins::host::PLUGIN_RUN,
        crate::plugins::host::PluginRun::for_validation(),
    );
    registry.register(
        crate::plugins::tool::PLUGIN_TOOL,
        crate::plugins::tool::PluginTool::for_validation(),
    );
    crate::plugins::installer::register(&mut registry, None);
    Ok(Queue::new(store, std::sync::Arc::new(registry)))
}

pub async fn run(command: JobCommand) -> anyhow::Result<i32> {
    let remote = match &command {
        JobCommand::Enqueue(args) => &args.remote,
        JobCommand::Import(args) => &args.remote,
        JobCommand::List(args) => &args.remote,
        JobCommand::Show(args) | JobCommand::Cancel(args) | JobCommand::Retry(args) => &args.remote,
        JobCommand::Logs(args) => &args.remote,
        JobCommand::Watch(args) => &args.remote,
    };
    if let Some(client) = remote.client()? {
        return super::job_remote::run(&client, command).await;
    }
    match command {
        JobCommand::Import(args) => anyhow::bail!(
            "`job import` sends its jobs to a server in batches: pass --url (or set PLUGBOARD_URL) and --token of a running `plugboard serve` ({} was not sent)",
            args.file
        ),
        JobCommand::Watch(args) => super::job_watch::local(args).await,
        JobCommand::Enqueue(args) => {
            let payload = Queue::parse_payload(args.payload.as_deref().unwrap_or("{}"))?;
            let queue = open(&args.settings).await?;
            let mut job = match (
                &args.config_id,
                args.kind == crate::plugins::host::PLUGIN_RUN,
            ) {
                (Some(config), true) => {
                    let data_dir = crate::config::Settings::resolve(&args.settings)?.data_dir;
                    let key = crate::tenants::SecretKey::load(&data_dir)?;
                    crate::tenants::Tenants::new(queue.store().clone(), key)
                        .client_run(config, &payload)
                        .await?
                }
                (Some(_), false) => anyhow::bail!(
                    "--config-id names the config of a plugin.run job; a {} job has none",
                    args.kind
                ),
                (None, is_run) => {
                    if is_run {
                        crate::tenants::client_run::check_client_payload(&payload)?;
                    }
                    NewJob::new(args.kind.clone(), payload)
                }
            };
            job.queue = args.queue.clone();
            job.priority = args.priority;
            job.run_at = args
                .delay_ms
                .map(|ms| Timestamp::now().plus(Duration::from_millis(ms)));
            job.max_attempts = args.max_attempts;
            job.timeout_ms = args.timeout_ms;
            job.unique_key = args.unique_key.clone();
            queue.validate(&job)?;
            let enqueued = queue.enqueue(job).await?;
            if args.json {
                println!(
                    "{}",
                    json!({"id": enqueued.id, "created": enqueued.created})
                );
            } else if enqueued.created {
                println!("{}", enqueued.id);
            } else {
                println!("{} (already existed with this unique key)", enqueued.id);
            }
            queue.store().close().await;
            Ok(0)
        }
        JobCommand::List(args) => {
            let queue = open(&args.settings).await?;
            let filter = JobFilter {
                status: args.status,
                kind: args.kind,
                queue: args.queue,
                tenant: args.tenant,
                plugin: args.plugin,
                before_id: args.before.map(JobId),
                limit: args.limit,
                ..JobFilter::default()
            };
            let jobs = queue.list(filter).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                println!(
                    "{:>8}  {:<10}  {:<12}  {:<12}  {:>7}  error",
                    "id", "status", "kind", "queue", "attempt"
                );
                for job in &jobs {
                    println!(
                        "{:>8}  {:<10}  {:<12}  {:<12}  {:>7}  {}",
                        job.id,
                        job.status,
                        job.kind,
                        job.queue,
                        format!("{}/{}", job.attempt, job.max_attempts),
                        job.error.as_deref().unwrap_or("")
                    );
                }
            }
            queue.store().close().await;
            Ok(0)
        }
        JobCommand::Show(args) => {
            let queue = open(&args.settings).await?;
            let job = queue.get(JobId(args.id)).await?;
            let waiting = queue.waiting(&job).await?;
            if args.json {
                let mut shown = serde_json::to_value(&job)?;
                if let Some(waiting) = &waiting {
                    shown["waiting_for"] = json!(waiting.reasons);
                }
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print_job(&job);
                for reason in waiting.iter().flat_map(|waiting| &waiting.reasons) {
                    println!("waiting for   {reason}");
                }
            }
            queue.store().close().await;
            Ok(0)
        }
        JobCommand::Cancel(args) => {
            let queue = open(&args.settings).await?;
            let id = JobId(args.id);
            let outcome = queue.cancel(id).await?;
            let (state, message) = match outcome {
                CancelOutcome::Cancelled => ("cancelled", format!("job {id} cancelled")),
                CancelOutcome::Requested => (
                    "requested",
                    format!("job {id} is running; it has been asked to stop"),
                ),
                CancelOutcome::AlreadyFinished(status) => (
                    "already_finished",
                    format!("job {id} had already finished ({status}); nothing changed"),
                ),
                CancelOutcome::NotFound => ("not_found", format!("job {id} does not exist")),
            };
            if args.json {
                println!("{}", json!({"id": id, "cancel": state}));
            } else {
                println!("{message}");
            }
            queue.store().close().await;
            Ok(0)
        }
        JobCommand::Retry(args) => {
            let queue = open(&args.settings).await?;
            let job = queue.retry(JobId(args.id)).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                println!("job {} is queued again", job.id);
            }
            queue.store().close().await;
            Ok(0)
        }
        JobCommand::Logs(args) => {
            let queue = open(&args.settings).await?;
            let id = JobId(args.id);
            queue.get(id).await?;
            let mut stdout = std::io::stdout().lock();
            if args.follow {
                let mut lines = queue.follow_logs(id, args.after);
                while let Some(line) = lines.recv().await {
                    let line = line?;
                    writeln!(
                        stdout,
                        "{:>5} {:<5} {}",
                        line.seq,
                        line.level.as_str(),
                        line.message
                    )
                    .context("writing to stdout")?;
                }
            } else {
                let mut after = args.after;
                loop {
                    let lines = queue.logs(id, after, 1000).await?;
                    let Some(last) = lines.last() else { break };
                    after = last.seq;
                    for line in &lines {
                        writeln!(
                            stdout,
                            "{:>5} {:<5} {}",
                            line.seq,
                            line.level.as_str(),
                            line.message
                        )
                        .context("writing to stdout")?;
                    }
                }
            }
            queue.store().close().await;
            Ok(0)
        }
    }
}

fn print_job(job: &Job) {
    let time = |t: Option<Timestamp>| {
        t.map(|t| humantime::format_rfc3339_millis(t.into()).to_string())
            .unwrap_or_else(|| "-".to_owned())
    };
    println!("id            {}", job.id);
    println!("kind          {}", job.kind);
    println!("queue         {}", job.queue);
    println!("status        {}", job.status);
    println!("attempt       {}/{}", job.attempt, job.max_attempts);
    println!("priority      {}", job.priority);
    println!("payload       {}", job.payload);
    if let Some(result) = &job.result {
        println!("result        {result}");
    }
    if let Some(error) = &job.error {
        println!("error         {error}");
    }
    if let Some(progress) = &job.progress {
        println!("progress      {progress}");
    }
    println!("created       {}", time(Some(job.created_at)));
    println!("started       {}", time(job.started_at));
    println!("finished      {}", time(job.finished_at));
}
