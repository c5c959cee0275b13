//! `plugboard bench plugins`: the plugin path, measured in one process on a fresh SQLite store.
//!
//! For each plugin folder given: the time from spawn to ready (median of `--spawns`), raw RPC
//! round trips over stdio to a warm instance (`ping`, one at a time and 64 in flight), and jobs
//! through the whole path (enqueue N `plugin.run` jobs, a worker pool hands them to warm
//! processes, results committed to the store) beside N `noop` jobs through the same queue in the
//! same run (the plugin's run as it is, and a run that only answers).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::plugins::host::PluginHost;
use crate::plugins::run::{PluginRun, PLUGIN_RUN};
use crate::plugins::supervisor::SupervisorConfig;
use crate::queue::{PoolConfig, QueueConfig, Registry, WorkerPool};
use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::store::{NewJob, Store};

#[derive(Debug, Clone, clap::Args)]
pub struct PluginBenchArgs {
    /// Plugin package folders to measure (repeat the flag)
    #[arg(long = "plugin", value_name = "DIR", required = true)]
    pub plugins: Vec<PathBuf>,
    /// Jobs per whole-path run
    #[arg(long, default_value_t = 5_000)]
    pub n: usize,
    /// Spawns for the spawn-to-ready median
    #[arg(long, default_value_t = 10)]
    pub spawns: usize,
    /// Seconds of each raw RPC measurement
    #[arg(long, default_value_t = 3.0)]
    pub rpc_seconds: f64,
    /// Write the figures as JSON here
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Who the plugin runs as, as the setting `plugin_user` (`host` measures it without its own
    /// user and namespaces, for the cost of that confinement) [default: auto]
    #[arg(long, value_name = "USER", default_value = "auto")]
    pub plugin_user: crate::plugins::identity::PluginUser,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub async fn run(args: PluginBenchArgs) -> anyhow::Result<()> {
    let mut report = Vec::new();
    for plugin_dir in &args.plugins {
        let directory = tempfile::tempdir().context("a temporary directory for the benchmark")?;
        // Plugins may run as users of their own, which pass through to their data directory.
        std::fs::set_permissions(
            directory.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .context("opening the benchmark's directory to the plugin's user")?;
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteOptions {
                path: directory.path().join("bench.db"),
                synchronous: Synchronous::Normal,
            })
            .await?,
        );
        let outcome = measure(
            &args,
            plugin_dir,
            &store,
            directory.path().join("plugin-data"),
        )
        .await;
        store.close().await;
        let figures =
            outcome.with_context(|| format!("measuring the plugin in {}", plugin_dir.display()))?;
        println!("{}", serde_json::to_string_pretty(&figures)?);
        report.push(figures);
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

async fn measure(
    args: &PluginBenchArgs,
    plugin_dir: &std::path::Path,
    store: &Arc<dyn Store>,
    data_root: PathBuf,
) -> anyhow::Result<Value> {
    let config = SupervisorConfig {
        confinement: Arc::new(crate::plugins::confinement::Confinement::new(
            args.plugin_user.clone(),
            None,
        )),
        ..SupervisorConfig::default()
    };
    let host = PluginHost::new(store.clone(), data_root, config.clone());
    // Spawn to ready, repeatedly.
    let mut spawn_ms = Vec::new();
    let mut plugin_id = String::new();
    for _ in 0..args.spawns.max(1) {
        let started = Instant::now();
        let probe = PluginHost::new(
            store.clone(),
            host.data_root().to_path_buf(),
            config.clone(),
        );
        plugin_id = probe.load(plugin_dir)?;
        let supervisor = probe
            .supervisor(&plugin_id)
            .context("the plugin just loaded")?;
        supervisor
            .wait_ready(Duration::from_secs(30))
            .await
            .map_err(anyhow::Error::msg)?;
        spawn_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        probe.stop_all().await;
    }
    host.load(plugin_dir)?;
    let supervisor = host
        .supervisor(&plugin_id)
        .context("the plugin just loaded")?;
    supervisor
        .wait_ready(Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;
    let manifest = supervisor.manifest().clone();

    // Raw RPC round trips to one warm instance.
    let ready = supervisor.pick().context("a ready instance")?;
    let budget = Duration::from_secs_f64(args.rpc_seconds);
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < budget {
        let one = Instant::now();
        ready
            .rpc
            .call("ping", json!({}), Duration::from_secs(10))
            .await?;
        latencies.push(one.elapsed().as_secs_f64() * 1_000_000.0);
    }
    let sequential_per_second = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let in_flight = 64;
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..in_flight {
        let rpc = ready.rpc.clone();
        tasks.push(tokio::spawn(async move {
            let mut count = 0u64;
            while started.elapsed() < budget {
                if rpc
                    .call("ping", json!({}), Duration::from_secs(10))
                    .await
                    .is_err()
                {
                    break;
                }
                count += 1;
            }
            count
        }));
    }
    let mut pipelined = 0u64;
    for task in tasks {
        pipelined += task.await.unwrap_or(0);
    }
    let pipelined_per_second = pipelined as f64 / started.elapsed().as_secs_f64();

    // Whole path: noop jobs and plugin.run jobs through the same queue and worker pool.
    let mut registry = Registry::with_builtin_kinds();
    registry.register(PLUGIN_RUN, PluginRun::new(host.clone()));
    let concurrency = (manifest.concurrency * manifest.instances) as usize;
    let mut config = PoolConfig::new(crate::runtime::worker_id());
    config.queues = vec![QueueConfig {
        name: "default".to_owned(),
        concurrency,
    }];
    config.prefetch = concurrency * 4;
    let pool = WorkerPool::start(store.clone(), Arc::new(registry), config);
    let mut committed = pool.committed();
    let mut rates = serde_json::Map::new();
    // The plugin's own run, whatever it does (hello-rust: progress twice, a kv read and write, a
    // log line), and a run that only answers (`"plain": true`; a plugin that does not know the
    // field does its usual run): the path from the queue to the plugin and back alone.
    let runs = [
        ("noop", "noop", json!({})),
        (
            "plugin",
            PLUGIN_RUN,
            json!({"plugin": plugin_id, "tenant": "bench"}),
        ),
        (
            "plugin_plain",
            PLUGIN_RUN,
            json!({"plugin": plugin_id, "tenant": "bench", "payload": {"plain": true}}),
        ),
    ];
    for (name, kind, payload) in runs {
        let before = *committed.borrow();
        let jobs = (0..args.n)
            .map(|_| NewJob::new(kind, payload.clone()))
            .collect();
        let started = Instant::now();
        store.job_enqueue_many(jobs).await?;
        let target = before + args.n as u64;
        tokio::time::timeout(
            Duration::from_secs(600),
            committed.wait_for(|count| *count >= target),
        )
        .await
        .context("the jobs did not finish within 600 s")?
        .context("the worker pool stopped")?;
        rates.insert(
            name.to_owned(),
            json!(args.n as f64 / started.elapsed().as_secs_f64()),
        );
    }
    pool.shutdown().await;
    let failed = store
        .job_list(crate::store::JobFilter {
            status: Some(crate::store::JobStatus::Failed),
            limit: 1,
            ..Default::default()
        })
        .await?;
    if let Some(job) = failed.first() {
        bail!(
            "a benchmark job failed: {}",
            job.error.as_deref().unwrap_or("no error")
        );
    }
    host.stop_all().await;
    let rate = |name: &str| rates.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let (noop, plugin, plain) = (rate("noop"), rate("plugin"), rate("plugin_plain"));
    Ok(json!({
        "plugin": plugin_id,
        "version": manifest.version,
        "command": manifest.command,
        "instances": manifest.instances,
        "concurrency": manifest.concurrency,
        "spawn_to_ready_ms_median": median(spawn_ms.clone()),
        "spawn_to_ready_ms": spawn_ms,
        "rpc_sequential_per_s": sequential_per_second,
        "rpc_sequential_p50_us": median(latencies.clone()),
        "rpc_64_in_flight_per_s": pipelined_per_second,
        "jobs": args.n,
        "noop_jobs_per_s": noop,
        "plugin_jobs_per_s": plugin,
        "plugin_to_noop_ratio": plugin / noop,
        "plugin_plain_jobs_per_s": plain,
        "plugin_plain_to_noop_ratio": plain / noop,
    }))
}
