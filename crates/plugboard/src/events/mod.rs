//! Events: intake and fan-out into one `plugin.run` job per subscribed config.
//!
//! Owns: checking an event (a known tenant, a well-formed type), recording it before it is
//! acknowledged, matching types against the configs' patterns (`form.*`), the fan-out, and the
//! loop that finishes fan-outs a dead node left undone ([`Events::deliver_pending`]) and prunes
//! old events.
//!
//! Exactly once: an event is stored first (a repeated idempotency key of the tenant answers the
//! first event and records nothing); then every enabled, valid config subscribed to its type gets
//! a job with the unique key `event:<event id>:<config id>`, and the event is marked delivered.
//! A node that dies in between leaves the event undelivered; any node's next pass enqueues its
//! jobs again, and the unique keys keep each delivery to one job.
//!
//! Must not touch: SQL, processes, HTTP.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use plugboard_protocol::methods::{Event, TriggerKind};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::schedule::fire_job;
use crate::store::{
    Config, EventFilter, EventRecord, NewEvent, NewJob, Store, StoreError, Timestamp,
};

/// What can go wrong with an event. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "tenant `{0}` does not exist; events need a known tenant (`plugboard tenant create {0}`)"
    )]
    UnknownTenant(String),
    #[error("invalid event type `{0}`: use 1 to 128 letters, digits, `_ - . : /`")]
    InvalidType(String),
    #[error("invalid idempotency key: use 1 to 256 characters")]
    InvalidKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An event to post.
#[derive(Debug, Clone)]
pub struct PostEvent {
    pub tenant: String,
    pub event_type: String,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    /// Who raised it (`api`, `cli`, `plugin:<id>`).
    pub source: Option<String>,
}

/// The answer to a post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Posted {
    pub event_id: i64,
    /// False when the idempotency key named an earlier event.
    pub created: bool,
    /// Jobs this post enqueued (0 for a repeat).
    pub jobs: usize,
}

/// Does `pattern` match `event_type`? A pattern ending in `*` matches every type that starts
/// with what comes before it (`form.*` matches `form.submitted`, `*` everything); any other
/// pattern matches only itself.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// The front door for events.
#[derive(Clone)]
pub struct Events {
    store: Arc<dyn Store>,
}

impl Events {
    pub fn new(store: Arc<dyn Store>) -> Events {
        Events { store }
    }

    /// Records an event (durably, before answering) and enqueues one job per subscribed config.
    ///
    /// # Errors
    /// An unknown tenant or a malformed type or key (nothing stored); a store failure. A failure
    /// after the event was recorded leaves it for [`Events::deliver_pending`].
    pub async fn post(&self, event: PostEvent) -> Result<Posted, EventError> {
        let type_fine = !event.event_type.is_empty()
            && event.event_type.len() <= 128
            && event
                .event_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
        if !type_fine {
            return Err(EventError::InvalidType(event.event_type));
        }
        if event
            .idempotency_key
            .as_ref()
            .is_some_and(|key| key.is_empty() || key.len() > 256)
        {
            return Err(EventError::InvalidKey);
        }
        if self.store.tenant_get(&event.tenant).await?.is_none() {
            return Err(EventError::UnknownTenant(event.tenant));
        }
        let recorded = self
            .store
            .event_record(NewEvent {
                tenant: event.tenant,
                event_type: event.event_type,
                payload: event.payload,
                idempotency_key: event.idempotency_key,
                source: event.source,
            })
            .await?;
        let stored = self.store.event_get(recorded.id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {} vanished after it was recorded",
                recorded.id
            ))
        })?;
        // A repeat of a delivered event does nothing; a repeat of one whose fan-out a dead node
        // left undone finishes it.
        let jobs = if stored.delivered_at.is_none() {
            self.deliver(&stored).await?
        } else {
            0
        };
        Ok(Posted {
            event_id: recorded.id,
            created: recorded.created,
            jobs: if recorded.created { jobs } else { 0 },
        })
    }

    /// Enqueues the jobs of one event and marks it delivered; returns how many jobs were new.
    pub async fn deliver(&self, event: &EventRecord) -> Result<usize, EventError> {
        let configs = self.store.config_subscribed(&event.tenant).await?;
        let jobs: Vec<NewJob> = configs
            .iter()
            .filter(|config| {
                config
                    .events
                    .iter()
                    .any(|pattern| pattern_matches(pattern, &event.event_type))
            })
            .map(|config| delivery_job(config, event))
            .collect();
        let reached = i64::try_from(jobs.len()).unwrap_or(i64::MAX);
        let enqueued = if jobs.is_empty() {
            Vec::new()
        } else {
            self.store.job_enqueue_many(jobs).await?
        };
        self.store.event_mark_delivered(event.id, reached).await?;
        Ok(enqueued.iter().filter(|job| job.created).count())
    }

    /// Finishes the fan-out of events recorded more than `older_than` ago and not delivered (a
    /// node died mid-way, or a plugin emitted them). Returns how many events were delivered.
    pub async fn deliver_pending(&self, older_than: Duration) -> Result<usize, EventError> {
        let before = Timestamp(Timestamp::now().0 - micros(older_than));
        let mut delivered = 0;
        loop {
            let pending = self
                .store
                .event_list(EventFilter {
                    undelivered_only: true,
                    created_before: Some(before),
                    limit: 100,
                    ..EventFilter::default()
                })
                .await?;
            if pending.is_empty() {
                return Ok(delivered);
            }
            for event in &pending {
                self.deliver(event).await?;
                delivered += 1;
            }
        }
    }

    /// Runs [`Events::deliver_pending`] every `every`, and prunes delivered events older than
    /// `retention` once a minute, until `stop`.
    pub fn start(
        self,
        every: Duration,
        retention: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = stop.cancelled() => return,
                }
                match self.deliver_pending(every).await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "finished the fan-out of pending events"),
                    Err(error) => tracing::warn!(%error, "event fan-out failed; trying again"),
                }
                if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    last_prune = Some(tokio::time::Instant::now());
                    let before = Timestamp(Timestamp::now().0 - micros(retention));
                    match self.store.event_prune(before).await {
                        Ok(0) => {}
                        Ok(count) => tracing::info!(count, "pruned old events"),
                        Err(error) => tracing::warn!(%error, "pruning events failed"),
                    }
                }
            }
        })
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The job that delivers `event` to `config`.
fn delivery_job(config: &Config, event: &EventRecord) -> NewJob {
    let mut job = fire_job(config, TriggerKind::Event, None);
    job.payload["trigger"]["event"] = serde_json::to_value(Event {
        id: event.id.to_string(),
        event_type: event.event_type.clone(),
        payload: event.payload.clone(),
    })
    .unwrap_or(Value::Null);
    job.unique_key = Some(format!("event:{}:{}", event.id, config.id));
    job
}
