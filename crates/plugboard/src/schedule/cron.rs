//! Cron expressions in a time zone, on the `croner` crate.
//!
//! `croner` follows Vixie cron at daylight-saving changes, which is what users expect and what
//! the tests check: a wall-clock time that falls in the hour skipped in spring fires once, at
//! the first instant after the gap; a fixed time in the hour repeated in autumn fires once, at
//! its first occurrence; a pattern that fires every second or minute keeps firing through both
//! halves of the repeated hour, as real time passes.

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

use super::spec::{from_chrono, to_utc};
use super::ScheduleError;
use crate::store::Timestamp;

/// The names of the fields of a six-field expression, in order.
const FIELDS: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day of month",
    "month",
    "day of week",
];

/// A parsed cron expression and the zone its wall-clock times are in.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).build()
}

impl CronSchedule {
    /// Parses `expression` (5 fields, or 6 with seconds first).
    ///
    /// # Errors
    /// [`ScheduleError::Cron`] naming the field that is wrong when one can be singled out.
    pub fn parse(expression: &str, zone: Tz) -> Result<CronSchedule, ScheduleError> {
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let nickname = expression.trim_start().starts_with('@');
        if !(fields.len() == 5 || fields.len() == 6 || nickname) {
            return Err(ScheduleError::Cron {
                expression: expression.to_owned(),
                reason: format!(
                    "it has {} fields; write 5 (minute hour day-of-month month day-of-week) or 6 (second first)",
                    fields.len()
                ),
            });
        }
        match parser().parse(expression) {
            Ok(cron) => Ok(CronSchedule { cron, zone }),
            Err(error) => Err(ScheduleError::Cron {
                expression: expression.to_owned(),
                reason: match failing_field(&fields) {
                    Some((name, value)) => {
                        format!("the {name} field `{value}` is not valid ({error})")
                    }
                    None => error.to_string(),
                },
            }),
        }
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = self.zone.from_utc_datetime(&to_utc(after).naive_utc());
        // Whole seconds: a fire at the second `after` falls in is before `after` unless
        // `after` is exactly on it, and "strictly after" excludes it either way.
        let floor = truncate(start);
        self.cron
            .find_next_occurrence(&floor, false)
            .ok()
            .map(|time| from_chrono(&time))
    }

    /// The last fire at or before `at`.
    pub fn last_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let start = self.zone.from_utc_datetime(&to_utc(at).naive_utc());
        self.cron
            .find_previous_occurrence(&truncate(start), true)
            .ok()
            .map(|time| from_chrono(&time))
    }
}

fn truncate(time: DateTime<Tz>) -> DateTime<Tz> {
    let micros = time.timestamp_subsec_micros();
    time - chrono::Duration::microseconds(i64::from(micros))
}

/// Finds the first field that fails on its own, every other field being `*`.
fn failing_field<'a>(fields: &[&'a str]) -> Option<(&'static str, &'a str)> {
    let names: &[&str] = if fields.len() == 6 {
        &FIELDS
    } else {
        &FIELDS[1..]
    };
    for (index, value) in fields.iter().enumerate() {
        let probe: Vec<&str> = (0..fields.len())
            .map(|other| if other == index { *value } else { "*" })
            .collect();
        if parser().parse(&probe.join(" ")).is_err() {
            return names.get(index).map(|name| (*name, *value));
        }
    }
    None
}
