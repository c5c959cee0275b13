//! What a running worker pool tells the outside about itself: whether each queue's claim loop
//! is alive (for `/readyz`), and how long the jobs it finished took (for `/metrics`).
//!
//! Labels stay bounded: a job's kind is its own label only when this node's registry knows it
//! (every other kind counts as `other`), and there are four outcomes. Job ids and tenants are
//! never labels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::store::{FinishOutcome, MinuteCounts, Store, Timestamp};

/// Upper bounds of the run duration histogram's buckets, in seconds.
pub const RUN_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0,
];

/// The label of a kind this node does not run.
pub const OTHER_KIND: &str = "other";

/// A claim loop that has not gone round for this long is stuck (unless 3 poll intervals are
/// longer): a claim statement that hangs, or a task that stopped being polled.
pub const STUCK_AFTER: Duration = Duration::from_secs(30);

/// A histogram of durations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Per bucket of [`RUN_SECONDS_BUCKETS`], how many took at most its bound (cumulative).
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; RUN_SECONDS_BUCKETS.len()];
        }
        for (bucket, bound) in self.buckets.iter_mut().zip(RUN_SECONDS_BUCKETS) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

/// How one queue's claim loop is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueLiveness {
    pub queue: String,
    /// `alive`, `stuck` or `stopped`.
    pub state: &'static str,
    /// Milliseconds since the loop last went round.
    pub last_loop_ms_ago: u64,
}

/// Whether the pool's claim loops are alive, with why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Liveness {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub queues: Vec<QueueLiveness>,
}

struct LoopBeat {
    queue: String,
    /// Milliseconds since `PoolStats::started` at the last round.
    last_round_ms: AtomicU64,
    stopped: AtomicBool,
}

/// Shared by a pool's tasks and whoever reports on them.
pub struct PoolStats {
    started: Instant,
    stuck_after: Duration,
    loops: Vec<LoopBeat>,
    kinds: Vec<String>,
    runs: Mutex<BTreeMap<(String, &'static str), Histogram>>,
}

impl PoolStats {
    pub(super) fn new(
        queues: Vec<String>,
        kinds: Vec<String>,
        poll_interval: Duration,
    ) -> PoolStats {
        PoolStats {
            started: Instant::now(),
            stuck_after: STUCK_AFTER.max(poll_interval * 3),
            loops: queues
                .into_iter()
                .map(|queue| LoopBeat {
                    queue,
                    last_round_ms: AtomicU64::new(0),
                    stopped: AtomicBool::new(false),
                })
                .collect(),
            kinds,
            runs: Mutex::new(BTreeMap::new()),
        }
    }

    fn beat(&self, queue: &str) -> Option<&LoopBeat> {
        self.loops.iter().find(|beat| beat.queue == queue)
    }

    /// A claim loop went round.
    pub(super) fn loop_round(&self, queue: &str) {
        if let Some(beat) = self.beat(queue) {
            let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            beat.last_round_ms.store(now, Ordering::Release);
        }
    }

    /// A claim loop ended.
    pub(super) fn loop_stopped(&self, queue: &str) {
        if let Some(beat) = self.beat(queue) {
            beat.stopped.store(true, Ordering::Release);
        }
    }

    /// Records a finished attempt that ran for `took`.
    pub(super) fn record_run(&self, kind: &str, outcome: &FinishOutcome, took: Duration) {
        let kind = if self.kinds.iter().any(|known| known == kind) {
            kind.to_owned()
        } else {
            OTHER_KIND.to_owned()
        };
        let outcome = match outcome {
            FinishOutcome::Succeeded { .. } => "succeeded",
            FinishOutcome::Failed { .. } => "failed",
            FinishOutcome::Retry { .. } => "retried",
            FinishOutcome::Cancelled { .. } => "cancelled",
        };
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((kind, outcome))
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// How many attempts this pool finished so far, by outcome (`MinuteCounts::minute` unset).
    pub fn finished_totals(&self) -> MinuteCounts {
        let runs = self
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut totals = MinuteCounts::default();
        for ((_, outcome), histogram) in runs.iter() {
            let count = i64::try_from(histogram.count).unwrap_or(i64::MAX);
            match *outcome {
                "succeeded" => totals.succeeded += count,
                "failed" => totals.failed += count,
                "retried" => totals.retried += count,
                _ => totals.cancelled += count,
            }
        }
        totals
    }

    /// The run durations of the attempts this pool finished, by kind and outcome.
    pub fn runs(&self) -> BTreeMap<(String, &'static str), Histogram> {
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether every claim loop is alive now.
    pub fn liveness(&self) -> Liveness {
        self.liveness_at(Instant::now())
    }

    /// Whether every claim loop is alive at `now` (tests look ahead in time with it).
    pub fn liveness_at(&self, now: Instant) -> Liveness {
        let now_ms = u64::try_from(now.saturating_duration_since(self.started).as_millis())
            .unwrap_or(u64::MAX);
        let stuck_after = u64::try_from(self.stuck_after.as_millis()).unwrap_or(u64::MAX);
        let queues: Vec<QueueLiveness> = self
            .loops
            .iter()
            .map(|beat| {
                let ago = now_ms.saturating_sub(beat.last_round_ms.load(Ordering::Acquire));
                let state = if beat.stopped.load(Ordering::Acquire) {
                    "stopped"
                } else if ago > stuck_after {
                    "stuck"
                } else {
                    "alive"
                };
                QueueLiveness {
                    queue: beat.queue.clone(),
                    state,
                    last_loop_ms_ago: ago,
                }
            })
            .collect();
        let failing: Vec<String> = queues
            .iter()
            .filter(|queue| queue.state != "alive")
            .map(|queue| match queue.state {
                "stopped" => format!("the claim loop of queue `{}` has stopped", queue.queue),
                _ => format!(
                    "the claim loop of queue `{}` has not gone round for {} ms (limit {stuck_after} ms): a claim is hanging or the runtime is starved",
                    queue.queue, queue.last_loop_ms_ago
                ),
            })
            .collect();
        Liveness {
            ok: failing.is_empty(),
            reason: (!failing.is_empty()).then(|| failing.join("; ")),
            queues,
        }
    }
}

/// How long the per-minute counts are kept.
pub const MINUTES_KEPT: Duration = Duration::from_secs(48 * 3600);

/// Keeps this node's per-minute counts of finished attempts in the store (the console's charts):
/// every `every`, what the pool finished since the last look is added to the current minute, in
/// one small write. Nothing is added on the path of a job. Minutes older than [`MINUTES_KEPT`]
/// are forgotten once an hour. A last write happens when `stop` is cancelled.
pub fn keep_minutes(
    store: std::sync::Arc<dyn Store>,
    node: String,
    stats: std::sync::Arc<PoolStats>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut written = MinuteCounts::default();
        let mut last_prune: Option<Instant> = None;
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = stop.cancelled() => true,
            };
            let totals = stats.finished_totals();
            let delta = MinuteCounts {
                minute: minute_of(Timestamp::now()),
                succeeded: totals.succeeded - written.succeeded,
                failed: totals.failed - written.failed,
                retried: totals.retried - written.retried,
                cancelled: totals.cancelled - written.cancelled,
            };
            if !delta.is_empty() {
                match store.minutes_add(&node, vec![delta]).await {
                    Ok(()) => written = totals,
                    // Kept for the next write: the counts are late, not lost.
                    Err(error) => {
                        tracing::warn!(%error, "could not record this minute's finished jobs; trying again shortly")
                    }
                }
            }
            if stopping {
                return;
            }
            if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let before = Timestamp(Timestamp::now().0 - MINUTES_KEPT.as_micros() as i64);
                if let Err(error) = store.minutes_prune(before).await {
                    tracing::warn!(%error, "could not forget old per-minute counts");
                }
            }
        }
    })
}

/// The first microsecond of the minute `at` falls in.
pub fn minute_of(at: Timestamp) -> Timestamp {
    Timestamp(at.0 - at.0.rem_euclid(60_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_going_round_is_stuck_then_stopped() {
        let stats = PoolStats::new(
            vec!["default".into(), "mail".into()],
            vec!["noop".into()],
            Duration::from_secs(1),
        );
        let start = Instant::now();
        stats.loop_round("default");
        stats.loop_round("mail");
        assert!(stats.liveness_at(start).ok);
        let later = start + STUCK_AFTER + Duration::from_secs(5);
        let liveness = stats.liveness_at(later);
        assert!(!liveness.ok);
        assert!(liveness.reason.unwrap().contains("queue `default`"));
        assert_eq!(liveness.queues[0].state, "stuck");
        stats.loop_stopped("mail");
        let liveness = stats.liveness_at(start);
        assert!(!liveness.ok);
        assert_eq!(liveness.queues[1].state, "stopped");
        assert_eq!(
            liveness.reason.as_deref(),
            Some("the claim loop of queue `mail` has stopped")
        );
    }

    #[test]
    fn runs_are_bucketed_by_known_kind_and_outcome() {
        let stats = PoolStats::new(vec![], vec!["noop".into()], Duration::from_secs(1));
        let done = FinishOutcome::Succeeded { result: None };
        stats.record_run("noop", &done, Duration::from_millis(20));
        stats.record_run("noop", &done, Duration::from_secs(2));
        stats.record_run("someone.elses", &done, Duration::from_millis(1));
        let runs = stats.runs();
        let noop = &runs[&("noop".to_owned(), "succeeded")];
        assert_eq!(noop.count, 2);
        assert_eq!(noop.buckets[0], 0, "0.005 s");
        assert_eq!(noop.buckets[2], 1, "0.025 s");
        assert_eq!(*noop.buckets.last().unwrap(), 2);
        assert_eq!(runs[&(OTHER_KIND.to_owned(), "succeeded")].count, 1);
    }
}
