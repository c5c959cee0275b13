//! Housekeeping every worker pool runs: rescuing jobs whose lease expired and pruning finished
//! jobs. Both are idempotent statements, so every node may run them; no leader is needed.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{PruneParams, Store, Timestamp};

/// How often and how much to clean up.
#[derive(Debug, Clone)]
pub(super) struct MaintenanceConfig {
    pub rescue_interval: Duration,
    pub prune_interval: Duration,
    /// Finished jobs older than this are deleted (`None`: kept by age).
    pub retention: Option<Duration>,
    /// At most this many finished jobs are kept (`None`: no count limit).
    pub keep_last: Option<u64>,
}

pub(super) async fn run(store: Arc<dyn Store>, config: MaintenanceConfig, stop: CancellationToken) {
    let mut rescue = tokio::time::interval(config.rescue_interval);
    rescue.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(config.prune_interval);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = rescue.tick() => match store.job_rescue().await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::warn!(count = ids.len(), ids = ?ids, "rescued jobs whose worker stopped renewing its lease");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "rescuing expired leases failed; will try again"),
            },
            _ = prune.tick() => {
                if config.retention.is_none() && config.keep_last.is_none() {
                    continue;
                }
                let params = PruneParams {
                    finished_before: config.retention.map(|age| Timestamp(Timestamp::now().0 - i64::try_from(age.as_micros()).unwrap_or(i64::MAX))),
                    keep_last: config.keep_last,
                };
                match store.job_prune(params).await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "pruned finished jobs"),
                    Err(error) => tracing::warn!(%error, "pruning finished jobs failed; will try again"),
                }
            }
        }
    }
}
