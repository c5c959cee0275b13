//! `plugboard bench schedules`: how long one scheduler tick takes when N configs are due at
//! once (every config fires every second), how long a tick takes when none is due, and how fast
//! one event fans out to N subscribed configs. One process, a fresh SQLite file or a throwaway
//! PostgreSQL schema; configs are written straight to the store (the benchmark measures the
//! scheduler and the fan-out, not config checks).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;

use crate::events::{Events, PostEvent};
use crate::schedule::{ManualClock, Scheduler, SchedulerConfig};
use crate::store::postgres::{PostgresOptions, PostgresStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use crate::store::{Config, ConfigPut, ScheduleCursor, Store, Timestamp};

#[derive(Debug, Clone, clap::Args)]
pub struct ScheduleBenchArgs {
    /// Configs (all due every second, all subscribed to the event)
    #[arg(long, default_value_t = 10_000)]
    pub configs: usize,
    /// Measured ticks and events (the median is reported)
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Benchmark PostgreSQL at this URL (in a throwaway schema) instead of SQLite
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub async fn run(args: ScheduleBenchArgs) -> anyhow::Result<()> {
    if args.configs == 0 || args.reps == 0 {
        bail!("--configs and --reps must be above 0");
    }
    let directory = tempfile::tempdir().context("a temporary directory for the benchmark")?;
    let schema = format!("plugboard_bench_schedules_{}", std::process::id());
    let store: Arc<dyn Store> = match &args.database_url {
        Some(url) => Arc::new(
            PostgresStore::connect(PostgresOptions {
                url: url.clone(),
                schema: Some(schema.clone()),
                pool_size: 4,
            })
            .await?,
        ),
        None => Arc::new(
            SqliteStore::open(SqliteOptions {
                path: directory.path().join("bench.db"),
                synchronous: Synchronous::Normal,
            })
            .await?,
        ),
    };
    let outcome = measure(&store, &args).await;
    store.close().await;
    if let Some(url) = &args.database_url {
        PostgresStore::drop_schema(url, &schema).await?;
    }
    let figures = outcome?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}

async fn measure(
    store: &Arc<dyn Store>,
    args: &ScheduleBenchArgs,
) -> anyhow::Result<serde_json::Value> {
    store.tenant_create("bench", "Bench").await?;
    let start = Timestamp(Timestamp::now().0 / 1_000_000 * 1_000_000);
    let setup = Instant::now();
    for index in 0..args.configs {
        store
            .config_put(ConfigPut {
                config: Config {
                    id: format!("cfg_bench_{index:06}"),
                    tenant: "bench".into(),
                    plugin: "bench".into(),
                    name: format!("c{index}"),
                    values: json!({"n": index}),
                    enabled: true,
                    schedule: Some(json!({"cron": "* * * * * *", "overlap": "allow"})),
                    events: vec!["bench.*".into()],
                    invalid_reason: None,
                    last_fire_at: None,
                    next_fire_at: None,
                    created_at: start,
                    updated_at: start,
                },
                cursor: Some(ScheduleCursor {
                    last_fire_at: Some(start),
                    next_fire_at: Some(Timestamp(start.0 + 1_000_000)),
                }),
            })
            .await?;
    }
    let setup_s = setup.elapsed().as_secs_f64();

    let clock = Arc::new(ManualClock::new(start));
    let scheduler = Scheduler::new(store.clone(), clock.clone(), SchedulerConfig::default());
    let mut due_ms = Vec::new();
    let mut idle_ms = Vec::new();
    for _ in 0..args.reps {
        clock.advance(1_000_000);
        let began = Instant::now();
        let report = scheduler.tick().await?;
        due_ms.push(began.elapsed().as_secs_f64() * 1000.0);
        if report.enqueued != args.configs {
            bail!(
                "a tick enqueued {} jobs, not {}",
                report.enqueued,
                args.configs
            );
        }
        let began = Instant::now();
        scheduler.tick().await?;
        idle_ms.push(began.elapsed().as_secs_f64() * 1000.0);
    }

    let events = Events::new(store.clone());
    let mut fan_out_ms = Vec::new();
    for rep in 0..args.reps {
        let began = Instant::now();
        let posted = events
            .post(PostEvent {
                tenant: "bench".into(),
                event_type: "bench.fired".into(),
                payload: json!({"rep": rep}),
                idempotency_key: None,
                source: Some("bench".into()),
            })
            .await?;
        fan_out_ms.push(began.elapsed().as_secs_f64() * 1000.0);
        if posted.jobs != args.configs {
            bail!("an event made {} jobs, not {}", posted.jobs, args.configs);
        }
    }
    let fan_out = median(fan_out_ms);
    Ok(json!({
        "backend": store.server_version().await?,
        "configs": args.configs,
        "setup_s": setup_s,
        "tick_all_due_ms": median(due_ms),
        "tick_none_due_ms": median(idle_ms),
        "event_fan_out_ms": fan_out,
        "event_fan_out_jobs_per_s": args.configs as f64 / (fan_out / 1000.0),
    }))
}
