//! The worker side of the queue benchmark: a separate process that runs a real worker pool on
//! the benchmark's database and reports, on one `RESULT {json}` line, when it started, when the
//! first job started, when the N-th outcome was committed, and its peak RSS.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::queue::{
    JobContext, JobError, JobHandler, PoolConfig, QueueConfig, Registry, WorkerPool,
};
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::store::Store;

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// `throughput` or `latency`
    #[arg(long)]
    pub mode: String,
    #[arg(long)]
    pub n: u64,
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 0)]
    pub prefetch: usize,
    #[arg(long)]
    pub sqlite: Option<PathBuf>,
    #[arg(long, default_value = "normal")]
    pub sqlite_synchronous: Synchronous,
    #[arg(long)]
    pub database_url: Option<String>,
    #[arg(long)]
    pub database_schema: Option<String>,
    /// Record finished jobs per minute this often, as `serve` does every 10 s (0: not at all)
    #[arg(long, default_value_t = 0)]
    pub minutes_every_ms: u64,
}

/// Wraps the built-in `noop` and notes when jobs start.
struct Recording {
    latency: bool,
    first_start: Mutex<Option<f64>>,
    samples: Mutex<Vec<f64>>,
}

#[async_trait]
impl JobHandler for Arc<Recording> {
    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let now = super::now_ms();
        {
            let mut first = self.first_start.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(now);
        }
        if self.latency {
            if let Some(sent) = context.job().payload.get("t").and_then(Value::as_f64) {
                self.samples
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(now - sent);
            }
        }
        crate::queue::noop_handler().run(context).await
    }
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let process_start = process_start_ms();
    let store: Arc<dyn Store> = match (&args.sqlite, &args.database_url) {
        (Some(path), _) => Arc::new(
            SqliteStore::open(SqliteOptions {
                path: path.clone(),
                synchronous: args.sqlite_synchronous,
            })
            .await?,
        ),
        (None, Some(url)) => Arc::new(
            PostgresStore::connect(PostgresOptions {
                url: url.clone(),
                schema: args.database_schema.clone(),
                pool_size: 4,
            })
            .await?,
        ),
        (None, None) => anyhow::bail!("give --sqlite PATH or --database-url URL"),
    };
    let recording = Arc::new(Recording {
        latency: args.mode == "latency",
        first_start: Mutex::new(None),
        samples: Mutex::new(Vec::new()),
    });
    let mut registry = Registry::with_builtin_kinds();
    registry.register("noop", recording.clone());
    let mut config = PoolConfig::new(crate::runtime::worker_id());
    config.queues = vec![QueueConfig {
        name: "default".to_owned(),
        concurrency: args.concurrency,
    }];
    config.prefetch = args.prefetch;
    let t0 = super::now_ms();
    let pool = WorkerPool::start(store.clone(), Arc::new(registry), config);
    let minutes_stop = tokio_util::sync::CancellationToken::new();
    let minutes = (args.minutes_every_ms > 0).then(|| {
        crate::queue::keep_minutes(
            store.clone(),
            pool.worker_id().to_owned(),
            pool.stats(),
            std::time::Duration::from_millis(args.minutes_every_ms),
            minutes_stop.clone(),
        )
    });
    println!("READY");
    let mut committed = pool.committed();
    committed
        .wait_for(|count| *count >= args.n)
        .await
        .context("the worker pool stopped early")?;
    let t_end = super::now_ms();
    let completed = *committed.borrow();
    minutes_stop.cancel();
    if let Some(minutes) = minutes {
        minutes.await.context("the per-minute counts task failed")?;
    }
    pool.shutdown().await;
    store.close().await;
    let first = *recording
        .first_start
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let samples = std::mem::take(&mut *recording.samples.lock().unwrap_or_else(|p| p.into_inner()));
    let result = json!({
        "t0": t0,
        "tFirst": first,
        "tEnd": t_end,
        "bootMs": process_start.map(|start| t0 - start),
        "completed": completed,
        "samples": samples,
        "maxRssKb": peak_rss_kb(),
    });
    println!("RESULT {result}");
    Ok(())
}

/// Peak resident set size of this process (VmHWM), in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// When this process was created, in ms since the epoch (from /proc; ~10 ms resolution).
fn process_start_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let start_ticks: f64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let now = super::now_ms();
    Some(now - (uptime - start_ticks / ticks_per_second) * 1000.0)
}
