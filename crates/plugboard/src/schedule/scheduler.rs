//! The scheduler loop: every tick, the configs whose next fire has come are evaluated and their
//! fires applied in one batch (see the module doc for why that is exactly once).

use std::sync::Arc;
use std::time::Duration;

use plugboard_protocol::methods::{ConfigInfo, Trigger, TriggerKind};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{evaluate, fire_key, format_time, Clock, OverlapPolicy, ScheduleError, ScheduleSpec};
use crate::store::{ActiveRule, Config, ConfigFire, FireOutcome, NewJob, Store, Timestamp};

/// The job kind a fire enqueues.
pub const PLUGIN_RUN: &str = "plugin.run";

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often due configs are looked for; default 200 ms.
    pub tick: Duration,
    /// The most configs evaluated per store call; default 1,000 (a tick repeats until fewer
    /// are due).
    pub batch: usize,
    /// The queue fires' jobs go to; default `default`.
    pub queue: String,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            tick: Duration::from_millis(200),
            batch: 1_000,
            queue: "default".to_owned(),
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Configs evaluated.
    pub evaluated: usize,
    /// Jobs inserted.
    pub enqueued: usize,
    /// Fires handled without a job because the previous run was still going.
    pub skipped_active: usize,
    /// Evaluations another node applied first.
    pub stale: usize,
    /// Configs whose stored schedule could not be read (logged and left alone).
    pub broken: usize,
}

/// Evaluates schedules against the store.
pub struct Scheduler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
}

impl Scheduler {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: SchedulerConfig) -> Scheduler {
        Scheduler {
            store,
            clock,
            config,
        }
    }

    /// Runs ticks until `stop` is cancelled. A failing tick is logged and tried again at the
    /// next one.
    pub fn start(self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.config.tick);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = stop.cancelled() => return,
                }
                if let Err(error) = self.tick().await {
                    tracing::warn!(%error, "schedule evaluation failed; trying again next tick");
                }
            }
        })
    }

    /// Evaluates every config due now, in batches, and applies the fires.
    ///
    /// # Errors
    /// A store failure; fires applied before it stay applied.
    pub async fn tick(&self) -> Result<TickReport, ScheduleError> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        loop {
            let due = self.store.config_due(now, self.config.batch).await?;
            let count = due.len();
            let mut fires = Vec::with_capacity(count);
            for config in &due {
                match self.fire_for(config, now) {
                    Ok(fire) => fires.push(fire),
                    Err(error) => {
                        // Marked invalid, so it is not due again (and not logged every tick)
                        // until `config set` gives it a schedule that works.
                        report.broken += 1;
                        tracing::warn!(config = %config.id, %error, "a stored schedule cannot be evaluated; the config is marked invalid");
                        self.store
                            .config_set_invalid(
                                &config.id,
                                Some(format!("its schedule cannot be evaluated: {error}")),
                            )
                            .await?;
                    }
                }
            }
            report.evaluated += fires.len();
            let outcomes = self.store.config_fire_many(fires).await?;
            for outcome in outcomes {
                match outcome {
                    FireOutcome::Applied {
                        enqueued,
                        skipped_active,
                    } => {
                        report.enqueued += enqueued.iter().filter(|job| job.created).count();
                        report.skipped_active += usize::from(skipped_active);
                    }
                    FireOutcome::Stale => report.stale += 1,
                    FireOutcome::Deferred => {}
                }
            }
            // A full batch may mean more are due.
            if count < self.config.batch {
                return Ok(report);
            }
        }
    }

    /// One config's evaluation as a store write.
    fn fire_for(&self, config: &Config, now: Timestamp) -> Result<ConfigFire, ScheduleError> {
        let spec = ScheduleSpec::from_value(config.schedule.as_ref().unwrap_or(&json!(null)))?;
        let schedule = spec.compile(config.created_at)?;
        let cursor = config
            .last_fire_at
            .unwrap_or(Timestamp(config.created_at.0));
        let evaluation = evaluate(&schedule, cursor, now);
        let jobs = evaluation
            .fires
            .iter()
            .map(|fire| {
                let mut job = fire_job(config, TriggerKind::Schedule, Some(*fire));
                job.queue = self.config.queue.clone();
                job.unique_key = Some(fire_key(&config.id, *fire));
                job.run_at = Some(Timestamp(fire.0 + schedule.jitter_for(&config.id, *fire)));
                job
            })
            .collect();
        Ok(ConfigFire {
            config_id: config.id.clone(),
            expected_last_fire: config.last_fire_at,
            last_fire_at: evaluation.cursor,
            next_fire_at: evaluation.next_fire,
            jobs,
            when_active: match schedule.overlap {
                OverlapPolicy::Allow => ActiveRule::Enqueue,
                OverlapPolicy::Skip => ActiveRule::SkipWhileActive,
                OverlapPolicy::Queue => ActiveRule::DeferWhileActive,
            },
        })
    }
}

/// A `plugin.run` job for one config: schedule fires, event deliveries and manual runs all
/// build their job here, so the payload has one shape.
pub fn fire_job(config: &Config, kind: TriggerKind, fire: Option<Timestamp>) -> NewJob {
    let trigger = Trigger {
        kind,
        event: None,
        fire_time: fire.map(format_time),
    };
    let payload = json!({
        "plugin": config.plugin,
        "tenant": config.tenant,
        "config": ConfigInfo {
            id: config.id.clone(),
            name: config.name.clone(),
            values: config.values.clone(),
        },
        "trigger": trigger,
    });
    let mut job = NewJob::new(PLUGIN_RUN, payload);
    job.tenant = Some(config.tenant.clone());
    job.plugin = Some(config.plugin.clone());
    job.config = Some(config.id.clone());
    job
}
