//! `plugboard bench queue`: measures the queue the way `shared/peers` measures other job queues,
//! and writes the same JSON, so one table shows plugboard beside them.
//!
//! Workloads (N no-op jobs, like the peers):
//! - bulk enqueue of N jobs in one call (timed in this process);
//! - then a separate worker process (`plugboard bench worker`, started afterwards) and the time
//!   from its start until all N are completed in the store, REPS times (median reported);
//! - one-at-a-time enqueue of SINGLE_N jobs, no worker running;
//! - enqueue→start latency of LAT_N jobs enqueued INTERVAL ms apart into an idle worker;
//! - peak RSS of the worker process (VmHWM).
//!
//! Owns: the benchmark's procedure and its report. Must not touch: SQL.

mod plugins;
mod report;
mod schedules;
mod worker;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::store::{ClaimParams, FinishOutcome, JobFinish, NewJob, Store};

pub use worker::WorkerArgs;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Queue throughput, enqueue rates, latency and worker memory, in the peers' JSON format
    Queue(QueueBenchArgs),
    /// The plugin path: spawn to ready, raw RPC round trips, jobs through warm plugins
    Plugins(plugins::PluginBenchArgs),
    /// Scheduler ticks with N configs due at once, and one event fanned out to N configs
    Schedules(schedules::ScheduleBenchArgs),
    /// The worker process the queue benchmark starts (not for direct use)
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Enqueues batches into an SQLite file until killed, printing each acknowledged batch (for
    /// crash tests; not for direct use)
    #[command(hide = true)]
    Writer(WriterArgs),
    /// Stores N queued no-op jobs in the database the settings name, in batches (for the API
    /// benchmark, `scripts/bench-api`; not for direct use)
    #[command(hide = true)]
    Seed(Box<SeedArgs>),
}

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 100_000)]
    pub jobs: usize,
    /// A queue no worker serves keeps the jobs queued
    #[arg(long, default_value = "idle")]
    pub queue: String,
    /// A history like a busy server's instead (for the console's benchmark): four kinds, 200
    /// tenants, payloads with a customer id; 96% succeeded, 3% failed, 1% left queued
    #[arg(long)]
    pub mix: bool,
    #[command(flatten)]
    pub settings: crate::settings::SettingsArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WriterArgs {
    #[arg(long)]
    pub sqlite: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    #[arg(long, default_value_t = 1_000)]
    pub batches: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct QueueBenchArgs {
    /// Jobs per throughput run
    #[arg(long, default_value_t = 20_000)]
    pub n: usize,
    /// Directory for plugboard.raw.json / plugboard-postgres.raw.json and their summaries
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Benchmark PostgreSQL at this URL (in a throwaway schema) instead of SQLite
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Throughput runs (the median is reported)
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Jobs enqueued one at a time
    #[arg(long, default_value_t = 2_000)]
    pub single_n: usize,
    /// Jobs in the latency run
    #[arg(long, default_value_t = 200)]
    pub latency_n: usize,
    /// Milliseconds between latency jobs
    #[arg(long, default_value_t = 20.0)]
    pub latency_interval_ms: f64,
    /// Worker concurrency (jobs held and run at once)
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Jobs the worker claims beyond its concurrency
    #[arg(long, default_value_t = 0)]
    pub prefetch: usize,
    /// Finished jobs to put in the table first (for the "flat in history" check)
    #[arg(long, default_value_t = 0)]
    pub history: u64,
    /// Name in the report [default: plugboard or plugboard-postgres, with -history-N when --history is set]
    #[arg(long)]
    pub name: Option<String>,
    /// SQLite durability for the run
    #[arg(long, default_value = "normal")]
    pub sqlite_synchronous: Synchronous,
    /// Spread the throughput jobs over this many tenants (0: no tenant), so claims take turns
    #[arg(long, default_value_t = 0)]
    pub tenants: usize,
    /// Limit every tenant to this many running jobs (0: no limit), so claims go through limits
    #[arg(long, default_value_t = 0)]
    pub tenant_limit: u32,
    /// The worker records finished jobs per minute this often, as `serve` does every 10000 ms
    /// (0: not at all), to measure what the console's charts cost
    #[arg(long, default_value_t = 0)]
    pub minutes_every_ms: u64,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<i32> {
    match command {
        BenchCommand::Queue(args) => queue_bench(args).await.map(|()| 0),
        BenchCommand::Worker(args) => worker::run(args).await.map(|()| 0),
        BenchCommand::Plugins(args) => plugins::run(args).await.map(|()| 0),
        BenchCommand::Schedules(args) => schedules::run(args).await.map(|()| 0),
        BenchCommand::Writer(args) => write_until_killed(args).await.map(|()| 0),
        BenchCommand::Seed(args) => seed(*args).await.map(|()| 0),
    }
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let (_, store) = crate::runtime::settings_and_store(&args.settings).await?;
    let started = Instant::now();
    if args.mix {
        seed_mix(&store, args.jobs, &args.queue).await?;
        println!(
            "stored {} jobs of a mixed history in {:.1} s",
            args.jobs,
            started.elapsed().as_secs_f64()
        );
        store.close().await;
        return Ok(());
    }
    let mut left = args.jobs;
    while left > 0 {
        let batch = left.min(5_000);
        let jobs = (0..batch)
            .map(|n| {
                let mut job = NewJob::new("noop", json!({"n": n}));
                job.queue = args.queue.clone();
                job
            })
            .collect();
        store.job_enqueue_many(jobs).await.context("seeding jobs")?;
        left -= batch;
    }
    println!(
        "stored {} jobs in queue {} in {:.1} s",
        args.jobs,
        args.queue,
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}

/// Where the benchmark's database lives, and how a worker process reaches it.
struct Target {
    store: Arc<dyn Store>,
    worker_flags: Vec<String>,
    label: &'static str,
    postgres_schema: Option<(String, String)>,
    _directory: Option<tempfile::TempDir>,
}

async fn open_target(args: &QueueBenchArgs) -> anyhow::Result<Target> {
    match &args.database_url {
        Some(url) => {
            let schema = format!("plugboard_bench_{}", std::process::id());
            let store = PostgresStore::connect(PostgresOptions {
                url: url.clone(),
                schema: Some(schema.clone()),
                pool_size: 4,
            })
            .await?;
            Ok(Target {
                store: Arc::new(store),
                worker_flags: vec![
                    "--database-url".into(),
                    url.clone(),
                    "--database-schema".into(),
                    schema.clone(),
                ],
                label: "postgres",
                postgres_schema: Some((url.clone(), schema)),
                _directory: None,
            })
        }
        None => {
            let directory = tempfile::tempdir()
                .context("creating a temporary directory for the benchmark database")?;
            let path = directory.path().join("bench.db");
            let store = SqliteStore::open(SqliteOptions {
                path: path.clone(),
                synchronous: args.sqlite_synchronous,
            })
            .await?;
            let synchronous = match args.sqlite_synchronous {
                Synchronous::Normal => "normal",
                Synchronous::Full => "full",
            };
            Ok(Target {
                store: Arc::new(store),
                worker_flags: vec![
                    "--sqlite".into(),
                    path.display().to_string(),
                    "--sqlite-synchronous".into(),
                    synchronous.into(),
                ],
                label: "sqlite",
                postgres_schema: None,
                _directory: Some(directory),
            })
        }
    }
}

async fn queue_bench(args: QueueBenchArgs) -> anyhow::Result<()> {
    if args.n == 0 || args.reps == 0 {
        bail!("--n and --reps must be above 0");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory {}", args.out.display()))?;
    let target = open_target(&args).await?;
    let outcome = measure(&args, &target).await;
    target.store.close().await;
    if let Some((url, schema)) = &target.postgres_schema {
        PostgresStore::drop_schema(url, schema).await?;
    }
    let raw = outcome?;
    let base = args.name.clone().unwrap_or_else(|| {
        let mut name = if target.label == "sqlite" {
            "plugboard".to_owned()
        } else {
            "plugboard-postgres".to_owned()
        };
        if args.history > 0 {
            name.push_str(&format!("-history-{}", args.history));
        }
        if args.tenants > 0 {
            name.push_str(&format!("-tenants-{}", args.tenants));
        }
        if args.tenant_limit > 0 {
            name.push_str(&format!("-limit-{}", args.tenant_limit));
        }
        if args.minutes_every_ms > 0 {
            name.push_str(&format!("-minutes-{}ms", args.minutes_every_ms));
        }
        name
    });
    let raw = report::with_name(raw, &base);
    let raw_path = args.out.join(format!("{base}.raw.json"));
    std::fs::write(&raw_path, serde_json::to_string_pretty(&raw)?)
        .with_context(|| format!("writing {}", raw_path.display()))?;
    let summary = report::summarize(&raw)?;
    let summary_path = args.out.join(format!("{base}.summary.json"));
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    report::print(&summary);
    eprintln!(
        "wrote {} and {}",
        raw_path.display(),
        summary_path.display()
    );
    Ok(())
}

async fn write_until_killed(args: WriterArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let store = SqliteStore::open(SqliteOptions {
        path: args.sqlite,
        synchronous: Synchronous::Normal,
    })
    .await?;
    let mut stdout = std::io::stdout();
    for _ in 0..args.batches {
        let jobs = (0..args.batch)
            .map(|i| NewJob::new("noop", json!({"i": i})))
            .collect();
        let enqueued = store.job_enqueue_many(jobs).await?;
        let ids: Vec<String> = enqueued.iter().map(|e| e.id.to_string()).collect();
        writeln!(stdout, "ACK {}", ids.join(" ")).context("writing to stdout")?;
        stdout.flush().context("writing to stdout")?;
    }
    store.close().await;
    Ok(())
}

fn now_ms() -> f64 {
    crate::store::Timestamp::now().as_millis_f64()
}

async fn measure(args: &QueueBenchArgs, target: &Target) -> anyhow::Result<Value> {
    let store = &target.store;
    if args.history > 0 {
        fill_history(store, args.history).await?;
    }
    if args.tenant_limit > 0 {
        store
            .limit_put(crate::store::JobLimit {
                scope: crate::store::LimitScope::Tenant,
                name: crate::store::limits::EVERY.to_owned(),
                max_running: Some(args.tenant_limit),
                rate_per_second: None,
                burst: None,
            })
            .await?;
    }
    let mut throughput_runs = Vec::new();
    for rep in 1..=args.reps {
        let jobs: Vec<NewJob> = (0..args.n)
            .map(|i| {
                let mut job = NewJob::new("noop", json!({}));
                if args.tenants > 0 {
                    job.tenant = Some(format!("tenant-{}", i % args.tenants));
                }
                job
            })
            .collect();
        let started = Instant::now();
        store.job_enqueue_many(jobs).await?;
        let enqueue_s = started.elapsed().as_secs_f64();
        eprintln!(
            "run {rep}: enqueued {} in {enqueue_s:.3} s ({:.0} jobs/s)",
            args.n,
            args.n as f64 / enqueue_s
        );
        let result = run_worker(args, target, "throughput", args.n, None).await?;
        let process_s = (result["tEnd"].as_f64().unwrap_or(0.0)
            - result["t0"].as_f64().unwrap_or(0.0))
            / 1000.0;
        let first_to_last_s = result["tFirst"]
            .as_f64()
            .map(|first| (result["tEnd"].as_f64().unwrap_or(first) - first) / 1000.0);
        eprintln!(
            "run {rep}: processed {} in {process_s:.3} s ({:.0} jobs/s), worker RSS {} kB",
            result["completed"],
            args.n as f64 / process_s,
            result["maxRssKb"]
        );
        throughput_runs.push(json!({
            "enqueue_s": enqueue_s,
            "process_s": process_s,
            "first_to_last_s": first_to_last_s,
            "boot_ms": result["bootMs"],
            "max_rss_kb": result["maxRssKb"],
            "completed": result["completed"],
        }));
    }

    let started = Instant::now();
    for _ in 0..args.single_n {
        let mut job = NewJob::new("noop", json!({"t": now_ms()}));
        job.queue = "bench-single".to_owned();
        store.job_enqueue(job).await?;
    }
    let single_s = started.elapsed().as_secs_f64();
    eprintln!(
        "single enqueue: {} in {single_s:.3} s ({:.0} jobs/s)",
        args.single_n,
        args.single_n as f64 / single_s
    );

    let latency = run_worker(args, target, "latency", args.latency_n, Some(store.clone())).await?;
    let server = store.server_version().await?;
    let (database, database_version) = server.split_once(' ').unwrap_or((server.as_str(), ""));
    Ok(json!({
        "peer": "",
        "versions": {
            "plugboard": env!("CARGO_PKG_VERSION"),
            database: database_version,
        },
        "settings": format!(
            "{} store, concurrency {}, prefetch {}, lease 15 s, bulk enqueue in one call, {} finished jobs in the table before the runs",
            target.label, args.concurrency, args.prefetch, args.history
        ),
        "notes": "worker: a separate `plugboard bench worker` process; completion = outcome committed to the store",
        "n": args.n,
        "throughput_runs": throughput_runs,
        "single_enqueue": {"n": args.single_n, "seconds": single_s},
        "latency": {"samples_ms": latency["samples"], "interval_ms": args.latency_interval_ms, "max_rss_kb": latency["maxRssKb"]},
    }))
}

/// `count` jobs through the normal path (enqueue, claim, finish): every hundredth left queued
/// in `idle_queue`, the others finished, one in 33 of them failed.
async fn seed_mix(store: &Arc<dyn Store>, count: usize, idle_queue: &str) -> anyhow::Result<()> {
    const KINDS: [&str; 4] = ["plugin.run", "email.send", "report.build", "noop"];
    let job = |n: usize| {
        let mut job = NewJob::new(
            KINDS[n % KINDS.len()],
            json!({"customer": {"id": n % 10_000}, "n": n}),
        );
        job.tenant = Some(format!("tenant-{}", n % 200));
        if n.is_multiple_of(KINDS.len()) {
            job.plugin = Some(format!("plugin-{}", n % 7));
        }
        job
    };
    let mut next = 0;
    while next < count {
        let batch = (count - next).min(5_000);
        let (idle, finished): (Vec<usize>, Vec<usize>) =
            (next..next + batch).partition(|n| n % 100 == 99);
        let idle = idle
            .into_iter()
            .map(|n| {
                let mut job = job(n);
                job.queue = idle_queue.to_owned();
                job
            })
            .collect();
        let finished: Vec<NewJob> = finished
            .into_iter()
            .map(|n| {
                let mut job = job(n);
                job.queue = "seed".to_owned();
                job
            })
            .collect();
        let finishing = finished.len();
        store.job_enqueue_many(finished).await?;
        store.job_enqueue_many(idle).await?;
        let claimed = store
            .job_claim(ClaimParams {
                queue: "seed".into(),
                owner: "seed".into(),
                limit: finishing,
                lease: Duration::from_secs(600),
            })
            .await?;
        let finishes = claimed
            .into_iter()
            .map(|job| JobFinish {
                outcome: if job.id.0 % 33 == 0 {
                    FinishOutcome::Failed {
                        error: format!("the customer's mail server refused job {}", job.id.0),
                    }
                } else {
                    FinishOutcome::Succeeded {
                        result: Some(json!({"ok": true})),
                    }
                },
                id: job.id,
                owner: "seed".into(),
                attempt: job.attempt,
            })
            .collect();
        store.job_finish_many(finishes).await?;
        next += batch;
    }
    Ok(())
}

/// Puts `count` finished jobs in the table through the normal path (enqueue, claim, finish).
async fn fill_history(store: &Arc<dyn Store>, count: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut left = count;
    while left > 0 {
        let batch = left.min(10_000);
        let jobs: Vec<NewJob> = (0..batch)
            .map(|_| {
                let mut job = NewJob::new("noop", json!({}));
                job.queue = "bench-history".to_owned();
                job
            })
            .collect();
        store.job_enqueue_many(jobs).await?;
        let claimed = store
            .job_claim(ClaimParams {
                queue: "bench-history".into(),
                owner: "history".into(),
                limit: batch as usize,
                lease: Duration::from_secs(600),
            })
            .await?;
        let finishes = claimed
            .into_iter()
            .map(|job| JobFinish {
                id: job.id,
                owner: "history".into(),
                attempt: job.attempt,
                outcome: FinishOutcome::Succeeded { result: None },
            })
            .collect();
        store.job_finish_many(finishes).await?;
        left -= batch;
    }
    eprintln!(
        "history: {count} finished jobs stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts a worker process, feeds it latency jobs if `latency_store` is given, and returns its
/// RESULT line.
async fn run_worker(
    args: &QueueBenchArgs,
    target: &Target,
    mode: &str,
    n: usize,
    latency_store: Option<Arc<dyn Store>>,
) -> anyhow::Result<Value> {
    let executable = std::env::current_exe().context("finding the plugboard executable")?;
    let mut child = tokio::process::Command::new(executable)
        .args([
            "bench",
            "worker",
            "--mode",
            mode,
            "--n",
            &n.to_string(),
            "--concurrency",
            &args.concurrency.to_string(),
            "--prefetch",
            &args.prefetch.to_string(),
            "--minutes-every-ms",
            &args.minutes_every_ms.to_string(),
        ])
        .args(&target.worker_flags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the benchmark worker process")?;
    let stdout = child.stdout.take().context("the worker's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut result = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while let Some(line) = tokio::time::timeout_at(deadline, lines.next_line())
        .await
        .context("the benchmark worker took over 300 s")??
    {
        if line == "READY" {
            if let Some(store) = &latency_store {
                feed_latency_jobs(store, n, args.latency_interval_ms).await?;
            }
        } else if let Some(json_text) = line.strip_prefix("RESULT ") {
            result = Some(
                serde_json::from_str::<Value>(json_text)
                    .context("parsing the worker's RESULT line")?,
            );
        }
    }
    let status = child
        .wait()
        .await
        .context("waiting for the benchmark worker")?;
    match result {
        Some(result) if status.success() => Ok(result),
        _ => bail!("the benchmark worker exited with {status} without a result"),
    }
}

async fn feed_latency_jobs(
    store: &Arc<dyn Store>,
    n: usize,
    interval_ms: f64,
) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    for i in 0..n {
        store
            .job_enqueue(NewJob::new("noop", json!({"t": now_ms()})))
            .await?;
        let due = start + Duration::from_secs_f64((i + 1) as f64 * interval_ms / 1000.0);
        tokio::time::sleep_until(due.into()).await;
    }
    Ok(())
}
