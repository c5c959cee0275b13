//! Limits on tenants and plugins as users set and read them: checking a limit before it is
//! stored, and saying in words why a queued job has not started.
//!
//! The store applies limits inside every claim (see `store::limits`); this module decides what a
//! valid limit is and how a waiting job is explained.

use crate::store::limits::EVERY;
use crate::store::{Job, JobLimit, JobStatus, LimitScope, LimitUsage, Timestamp};

use super::{Queue, QueueError};

/// Why a queued job that is due has not started: the limits it is waiting for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Waiting {
    /// One sentence per full limit, e.g. "tenant acme has 2 of its 2 allowed jobs running".
    pub reasons: Vec<String>,
    /// The limits behind the reasons, with how full they are.
    pub limits: Vec<LimitUsage>,
}

/// Checks a limit as a user wrote it; the error names the field and says what is allowed.
pub fn check(limit: &JobLimit) -> Result<(), QueueError> {
    let invalid = |field: &'static str, reason: String| QueueError::Invalid { field, reason };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if limit.name != EVERY
        && (limit.name.is_empty() || limit.name.len() > 64 || !limit.name.chars().all(plain))
    {
        return Err(invalid(
            "name",
            format!(
                "`{}` is not a {} id; use 1 to 64 letters, digits, `_`, `-` or `.`, or `*` for every {}",
                limit.name,
                limit.scope.as_str(),
                limit.scope.as_str()
            ),
        ));
    }
    if limit.max_running.is_none() && limit.rate_per_second.is_none() {
        return Err(invalid(
            "limit",
            "set max_running, rate_per_second or both; to remove a limit, delete it".to_owned(),
        ));
    }
    if limit.max_running == Some(0) {
        return Err(invalid(
            "max_running",
            "must be at least 1 (to stop a tenant's jobs, disable its configs)".to_owned(),
        ));
    }
    if let Some(rate) = limit.rate_per_second {
        if !rate.is_finite() || rate <= 0.0 || rate > 1_000_000.0 {
            return Err(invalid(
                "rate_per_second",
                format!("{rate} is not a rate; use a number above 0 and at most 1000000"),
            ));
        }
    }
    if limit.burst.is_some() && limit.rate_per_second.is_none() {
        return Err(invalid(
            "burst",
            "only applies with rate_per_second".to_owned(),
        ));
    }
    if limit.burst == Some(0) {
        return Err(invalid("burst", "must be at least 1".to_owned()));
    }
    Ok(())
}

/// The reasons a job waits, given the usage of the limits that apply to it; `None` when the job
/// is not waiting for a limit (it is not queued, not due yet, or its limits have room).
pub fn waiting(job: &Job, usage: Vec<LimitUsage>, now: Timestamp) -> Option<Waiting> {
    if job.status != JobStatus::Queued || job.run_at > now {
        return None;
    }
    let mut full = Waiting {
        reasons: Vec::new(),
        limits: Vec::new(),
    };
    for usage in usage {
        let who = format!("{} {}", usage.limit.scope.as_str(), usage.applies_to);
        let mut reasons = Vec::new();
        if let Some(max) = usage.limit.max_running {
            if usage.running >= u64::from(max) {
                reasons.push(format!(
                    "{who} has {} of its {max} allowed jobs running",
                    usage.running
                ));
            }
        }
        if let (Some(rate), Some(tokens)) = (usage.limit.rate_per_second, usage.tokens) {
            if tokens < 1.0 {
                reasons.push(format!(
                    "{who} may start {rate} jobs per second and has used them up"
                ));
            }
        }
        if !reasons.is_empty() {
            full.reasons.extend(reasons);
            full.limits.push(usage);
        }
    }
    (!full.reasons.is_empty()).then_some(full)
}

impl Queue {
    /// Sets a limit after checking it.
    pub async fn limit_put(&self, limit: JobLimit) -> Result<JobLimit, QueueError> {
        check(&limit)?;
        Ok(self.store.limit_put(limit).await?)
    }

    /// Removes a limit; `false` when there was none.
    pub async fn limit_delete(&self, scope: LimitScope, name: &str) -> Result<bool, QueueError> {
        Ok(self.store.limit_delete(scope, name).await?)
    }

    /// Every limit.
    pub async fn limit_list(&self) -> Result<Vec<JobLimit>, QueueError> {
        Ok(self.store.limit_list().await?)
    }

    /// Why a job waits, if it waits for a limit.
    pub async fn waiting(&self, job: &Job) -> Result<Option<Waiting>, QueueError> {
        let now = Timestamp::now();
        if job.status != JobStatus::Queued || job.run_at > now {
            return Ok(None);
        }
        let usage = self
            .store
            .limit_usage(job.tenant.as_deref(), job.plugin.as_deref())
            .await?;
        Ok(waiting(job, usage, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: Option<u32>, rate: Option<f64>, burst: Option<u32>) -> JobLimit {
        JobLimit {
            scope: LimitScope::Tenant,
            name: "acme".to_owned(),
            max_running: max,
            rate_per_second: rate,
            burst,
        }
    }

    #[test]
    fn limits_that_cannot_work_are_refused_with_the_field() {
        let field = |limit: JobLimit| match check(&limit) {
            Err(QueueError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(field(limit(None, None, None)), "limit");
        assert_eq!(field(limit(Some(0), None, None)), "max_running");
        assert_eq!(field(limit(None, Some(0.0), None)), "rate_per_second");
        assert_eq!(field(limit(None, Some(f64::NAN), None)), "rate_per_second");
        assert_eq!(field(limit(Some(1), None, Some(3))), "burst");
        assert_eq!(
            field(JobLimit {
                name: "no spaces".into(),
                ..limit(Some(1), None, None)
            }),
            "name"
        );
        assert!(check(&limit(Some(2), Some(5.0), Some(10))).is_ok());
        assert!(check(&JobLimit {
            name: EVERY.into(),
            ..limit(Some(2), None, None)
        })
        .is_ok());
    }
}
