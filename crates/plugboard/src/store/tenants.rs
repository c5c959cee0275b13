//! Row and parameter types for tenants, their plugin configs, schedule cursors and event
//! deliveries, shared by both store implementations.
//!
//! The store keeps a config's schedule and event patterns as the caller gave them (JSON and
//! strings) and interprets neither: `schedule/` decides when a config fires and `events/` which
//! configs an event reaches. The store only applies those decisions atomically.

use serde::Serialize;
use serde_json::Value;

use super::{Enqueued, NewJob, Timestamp};

/// An organisation or a user that plugins work for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    /// Chosen by whoever creates it: 1 to 64 letters, digits, `_`, `-` or `.`.
    pub id: String,
    /// A display name.
    pub name: String,
    pub created_at: Timestamp,
}

/// One named configuration of one plugin for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub id: String,
    pub tenant: String,
    pub plugin: String,
    /// Unique per tenant and plugin.
    pub name: String,
    /// The values as stored: secret fields are sealed (see `tenants/secrets.rs`).
    pub values: Value,
    pub enabled: bool,
    /// The schedule spec as `schedule/` wrote it; `None`: no schedule.
    pub schedule: Option<Value>,
    /// Event type patterns this config subscribes to (`form.*`).
    pub events: Vec<String>,
    /// Set when the plugin's current schema rejects the values: the config does not run.
    pub invalid_reason: Option<String>,
    /// The schedule cursor: every fire at or before this time has been handled.
    pub last_fire_at: Option<Timestamp>,
    /// The next fire the scheduler will handle; `None`: nothing to fire.
    pub next_fire_at: Option<Timestamp>,
    /// As the caller gives it when the config is first stored (intervals count from it, so it
    /// must be the time the caller computed the first fire from), kept afterwards.
    pub created_at: Timestamp,
    /// Set by the store on every write.
    pub updated_at: Timestamp,
}

/// Where a config's schedule stands, written with the config when its schedule is (re)set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleCursor {
    pub last_fire_at: Option<Timestamp>,
    pub next_fire_at: Option<Timestamp>,
}

/// Parameters of [`super::Store::config_put`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigPut {
    /// The config to insert, or to replace when its id exists. `created_at`, `updated_at`,
    /// `last_fire_at` and `next_fire_at` in it are ignored.
    pub config: Config,
    /// `Some`: write this cursor. `None`: keep the stored one (a new config gets none).
    pub cursor: Option<ScheduleCursor>,
}

/// Filters of [`super::Store::config_list`].
#[derive(Debug, Clone, Default)]
pub struct ConfigFilter {
    pub tenant: Option<String>,
    pub plugin: Option<String>,
    /// Default (0) means 1,000.
    pub limit: usize,
}

/// What a fire does when the config already has a job queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveRule {
    /// Enqueue the fire's jobs anyway.
    Enqueue,
    /// Handle the fire (advance the cursor) without enqueueing anything.
    SkipWhileActive,
    /// Leave the fire pending (the cursor stays) until no job of the config is active.
    DeferWhileActive,
}

/// One evaluation of one config's schedule, applied by [`super::Store::config_fire_many`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFire {
    pub config_id: String,
    /// The cursor the evaluation started from; the fire applies only if it is still stored.
    pub expected_last_fire: Option<Timestamp>,
    /// The new cursor.
    pub last_fire_at: Timestamp,
    pub next_fire_at: Option<Timestamp>,
    /// The jobs of the fires handled (each with its unique key).
    pub jobs: Vec<NewJob>,
    pub when_active: ActiveRule,
}

/// The answer to one [`ConfigFire`].
#[derive(Debug, Clone, PartialEq)]
pub enum FireOutcome {
    /// The cursor moved; `enqueued` has one entry per job inserted or found by its unique key
    /// (empty when skipped because the config had an active job).
    Applied {
        enqueued: Vec<Enqueued>,
        skipped_active: bool,
    },
    /// The config has an active job and the rule is [`ActiveRule::DeferWhileActive`]:
    /// nothing was written.
    Deferred,
    /// Another evaluation moved the cursor first (another node), or the config is gone,
    /// disabled or invalid: nothing was written.
    Stale,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub tenant: String,
    pub event_type: String,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    pub source: Option<String>,
    pub created_at: Timestamp,
    /// When its jobs were enqueued; `None`: not yet (fan-out pending).
    pub delivered_at: Option<Timestamp>,
    /// How many configs it reached.
    pub deliveries: Option<i64>,
}

/// Filters and paging of [`super::Store::event_list`], newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub tenant: Option<String>,
    pub event_type: Option<String>,
    /// Only events whose fan-out has not been recorded.
    pub undelivered_only: bool,
    /// Only events created before this time.
    pub created_before: Option<Timestamp>,
    pub before_id: Option<i64>,
    /// Default (0) means 50.
    pub limit: usize,
}
