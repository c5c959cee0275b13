//! The schedule a config carries: what a user writes (JSON, stored as written) and its checked,
//! compiled form that computes fire times.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::cron::CronSchedule;
use super::ScheduleError;
use crate::store::Timestamp;

/// What happens to fires that were missed by more than the grace period (no node was up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// Run once for all the missed fires (the latest of them).
    #[default]
    RunOnce,
    /// Skip them; the schedule goes on with the next fire.
    Skip,
}

/// What a fire does while the previous run of the config is still queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Skip the fire.
    #[default]
    Skip,
    /// Keep the fire waiting until the previous run finished, then run it (one at a time; a
    /// fire that waits longer than the grace period is a misfire).
    Queue,
    /// Run it alongside.
    Allow,
}

/// A schedule as written in a config (`--schedule` JSON, the API's `schedule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// A cron expression: 5 fields (minute to weekday) or 6 (seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// An IANA time zone for `cron` (`Europe/Berlin`); default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Fire every this many seconds, counted from `start` (or from when the schedule was set).
    /// `intervalSeconds`, as a plugin's metadata spells it, is taken too.
    #[serde(
        default,
        alias = "intervalSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval_seconds: Option<u64>,
    /// Delay each fire's job by up to this many seconds, the same delay on every node.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_seconds: u64,
    /// No fire before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// No fire after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Paused: no fire until resumed; fires during the pause are not caught up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    #[serde(default)]
    pub misfire: MisfirePolicy,
    /// A fire later than this is a misfire; default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire_grace_seconds: Option<u64>,
    #[serde(default)]
    pub overlap: OverlapPolicy,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The default grace period before a late fire counts as missed.
pub const DEFAULT_MISFIRE_GRACE_SECONDS: u64 = 60;

/// When a schedule fires.
#[derive(Debug, Clone)]
enum Timing {
    Cron(Box<CronSchedule>),
    /// Every `period` microseconds from `anchor`.
    Interval {
        anchor: Timestamp,
        period: i64,
    },
}

/// A checked schedule that computes fire times.
#[derive(Debug, Clone)]
pub struct Schedule {
    timing: Timing,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub jitter_micros: i64,
    pub paused: bool,
    pub misfire: MisfirePolicy,
    pub misfire_grace_micros: i64,
    pub overlap: OverlapPolicy,
}

impl ScheduleSpec {
    /// Parses a schedule written as JSON.
    ///
    /// # Errors
    /// [`ScheduleError::Json`] naming what is wrong with the document.
    pub fn parse(text: &str) -> Result<ScheduleSpec, ScheduleError> {
        serde_json::from_str(text).map_err(|error| ScheduleError::Json(error.to_string()))
    }

    /// Reads a stored schedule.
    ///
    /// # Errors
    /// [`ScheduleError::Json`] when the value is not a schedule.
    pub fn from_value(value: &serde_json::Value) -> Result<ScheduleSpec, ScheduleError> {
        serde_json::from_value(value.clone())
            .map_err(|error| ScheduleError::Json(error.to_string()))
    }

    /// The JSON stored in the config.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Checks the spec and compiles it. `set_at` anchors an interval without `start`.
    ///
    /// # Errors
    /// A cron expression naming the field that is wrong, an unknown time zone, both or neither
    /// of `cron` and `interval_seconds`, a zero interval, an unreadable or inverted date range.
    pub fn compile(&self, set_at: Timestamp) -> Result<Schedule, ScheduleError> {
        let start = self
            .start
            .as_deref()
            .map(|text| parse_time("start", text))
            .transpose()?;
        let end = self
            .end
            .as_deref()
            .map(|text| parse_time("end", text))
            .transpose()?;
        if let (Some(start), Some(end)) = (start, end) {
            if end < start {
                return Err(ScheduleError::Invalid {
                    field: "end",
                    reason: "it is before start".to_owned(),
                });
            }
        }
        let timing = match (&self.cron, self.interval_seconds) {
            (Some(_), Some(_)) => {
                return Err(ScheduleError::Invalid {
                    field: "schedule",
                    reason: "it has both cron and interval_seconds; keep one".to_owned(),
                })
            }
            (None, None) => {
                return Err(ScheduleError::Invalid {
                    field: "schedule",
                    reason: "it needs cron or interval_seconds".to_owned(),
                })
            }
            (Some(expression), None) => {
                let zone = match self.timezone.as_deref() {
                    None => Tz::UTC,
                    Some(name) => Tz::from_str(name)
                        .map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))?,
                };
                Timing::Cron(Box::new(CronSchedule::parse(expression, zone)?))
            }
            (None, Some(0)) => {
                return Err(ScheduleError::Invalid {
                    field: "interval_seconds",
                    reason: "it must be at least 1".to_owned(),
                })
            }
            (None, Some(seconds)) => {
                if self.timezone.is_some() {
                    return Err(ScheduleError::Invalid {
                        field: "timezone",
                        reason: "it applies to cron only; an interval counts real seconds"
                            .to_owned(),
                    });
                }
                let period = i64::try_from(seconds)
                    .ok()
                    .and_then(|seconds| seconds.checked_mul(1_000_000))
                    .ok_or(ScheduleError::Invalid {
                        field: "interval_seconds",
                        reason: "it is too large".to_owned(),
                    })?;
                Timing::Interval {
                    anchor: start.unwrap_or(set_at),
                    period,
                }
            }
        };
        let seconds_to_micros = |seconds: u64| i64::try_from(seconds.saturating_mul(1_000_000));
        Ok(Schedule {
            timing,
            start,
            end,
            jitter_micros: seconds_to_micros(self.jitter_seconds).unwrap_or(i64::MAX),
            paused: self.paused,
            misfire: self.misfire,
            misfire_grace_micros: seconds_to_micros(
                self.misfire_grace_seconds
                    .unwrap_or(DEFAULT_MISFIRE_GRACE_SECONDS),
            )
            .unwrap_or(i64::MAX),
            overlap: self.overlap,
        })
    }
}

fn parse_time(field: &'static str, text: &str) -> Result<Timestamp, ScheduleError> {
    let time = DateTime::parse_from_rfc3339(text).map_err(|error| ScheduleError::Invalid {
        field,
        reason: format!("`{text}` is not an RFC 3339 time ({error}); write 2026-01-31T09:00:00Z"),
    })?;
    Ok(from_chrono(&time.with_timezone(&Utc)))
}

pub(super) fn from_chrono<Z: TimeZone>(time: &DateTime<Z>) -> Timestamp {
    Timestamp(time.timestamp_micros())
}

pub(super) fn to_utc(time: Timestamp) -> DateTime<Utc> {
    Utc.timestamp_micros(time.0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Schedule {
    /// The first fire strictly after `after`, within `start` and `end`; `None` when there is
    /// none (past `end`, or a cron expression that never matches again).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let after = match self.start {
            // Fires at or after start: look from just before it.
            Some(start) if start.0 - 1 > after.0 => Timestamp(start.0 - 1),
            _ => after,
        };
        let next = match &self.timing {
            Timing::Cron(cron) => cron.next_after(after)?,
            Timing::Interval { anchor, period } => {
                if after < *anchor {
                    *anchor
                } else {
                    let steps = (after.0 - anchor.0) / period + 1;
                    Timestamp(anchor.0.checked_add(steps.checked_mul(*period)?)?)
                }
            }
        };
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// The last fire at or before `at` and strictly after `after`, if any.
    pub fn last_between(&self, after: Timestamp, at: Timestamp) -> Option<Timestamp> {
        let at = match self.end {
            Some(end) if end < at => end,
            _ => at,
        };
        let candidate = match &self.timing {
            Timing::Cron(cron) => cron.last_at_or_before(at)?,
            Timing::Interval { anchor, period } => {
                if at < *anchor {
                    return None;
                }
                Timestamp(anchor.0 + (at.0 - anchor.0) / period * period)
            }
        };
        let after_start = self.start.is_none_or(|start| candidate >= start);
        (candidate > after && after_start).then_some(candidate)
    }

    /// The next `count` fires after `after` (for `config show` and previews).
    pub fn upcoming(&self, after: Timestamp, count: usize) -> Vec<Timestamp> {
        let mut fires = Vec::with_capacity(count);
        let mut cursor = after;
        while fires.len() < count {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            fires.push(next);
            cursor = next;
        }
        fires
    }

    /// The delay of one fire's job: the same on every node, between 0 and the jitter.
    pub fn jitter_for(&self, config_id: &str, fire: Timestamp) -> i64 {
        if self.jitter_micros <= 0 {
            return 0;
        }
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(config_id.as_bytes())
            .chain_update(fire.0.to_le_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_le_bytes(first) % self.jitter_micros.unsigned_abs()) as i64
    }
}
