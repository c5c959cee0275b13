//! `noop`: the built-in job kind that does nothing, used by the health check, the benchmark and
//! the demo.
//!
//! Payload (all optional): `sleep_ms` waits that long (and stops early when cancelled), `log`
//! (true) writes a line to the job's log when it starts and when it ends.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::registry::{JobContext, JobError, JobHandler};
use crate::store::LogLevel;

/// The kind's name.
pub const KIND: &str = "noop";

/// The `noop` handler.
pub struct Noop;

fn sleep_ms(payload: &Value) -> Result<u64, String> {
    match payload.get("sleep_ms") {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value.as_u64().ok_or_else(|| {
            format!("`sleep_ms` must be a whole number of milliseconds, not {value}")
        }),
    }
}

#[async_trait]
impl JobHandler for Noop {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        if !(payload.is_object() || payload.is_null()) {
            return Err(format!(
                "the noop payload must be a JSON object or null, not {payload}"
            ));
        }
        sleep_ms(payload).map(|_| ())
    }

    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let payload = &context.job().payload;
        let sleep = sleep_ms(payload).map_err(JobError::permanent)?;
        let log = payload.get("log").and_then(Value::as_bool).unwrap_or(false);
        let attempt = context.job().attempt;
        if log {
            let line = format!(
                "noop started (attempt {attempt}, worker {})",
                context.worker()
            );
            context
                .log(LogLevel::Info, line)
                .await
                .map_err(|e| JobError::retryable(e.to_string()))?;
        }
        if sleep > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(sleep)) => {}
                () = context.cancelled() => return Err(JobError::permanent("cancelled while sleeping")),
            }
        }
        if log {
            let line = format!(
                "noop finished (attempt {attempt}, worker {})",
                context.worker()
            );
            context
                .log(LogLevel::Info, line)
                .await
                .map_err(|e| JobError::retryable(e.to_string()))?;
        }
        if sleep > 0 || log {
            return Ok(Some(
                json!({"worker": context.worker(), "attempt": attempt}),
            ));
        }
        Ok(None)
    }
}
