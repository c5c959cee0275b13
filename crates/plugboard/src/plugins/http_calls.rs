//! Requests to a plugin's routes: `http`, sent to a ready instance of one loaded version.
//!
//! The caller holds the version's [`Supervisor`], so a request that started on a version
//! finishes on it while an update switches to the next one (the drain waits for requests in
//! flight, as it does for runs). A request whose answer is no longer wanted (it timed out, or
//! the HTTP client went away) is abandoned and the plugin is sent `cancel` for it.

use std::sync::Arc;
use std::time::Duration;

use plugboard_protocol::methods::{self, HttpParams, HttpResult};
use serde_json::json;

use super::rpc::{RpcClient, RpcError};
use super::supervisor::Supervisor;

/// How often a request waiting for a ready instance looks again.
const READY_POLL: Duration = Duration::from_millis(10);

/// Why a route's request got no answer from the plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpCallError {
    /// No instance was ready (starting, restarting after a crash, or busy at its concurrency)
    /// within the wait.
    #[error("plugin `{plugin}` had no instance ready to answer within {} ms; it is starting, restarting or busy", waited.as_millis())]
    NotReady { plugin: String, waited: Duration },
    /// This version stopped (replaced by an update, disabled) before the request was sent.
    #[error("plugin `{plugin}` version {version} stopped before the request reached it")]
    Stopped { plugin: String, version: String },
    /// Every instance failed (a crash loop, or it cannot start).
    #[error("plugin `{plugin}` has failed on this node: {reason}")]
    Failed { plugin: String, reason: String },
    /// The process ended while the request was in it.
    #[error("plugin `{plugin}` ended while it handled the request ({reason}); the next request goes to its restarted process")]
    Crashed { plugin: String, reason: String },
    /// It answered with an error.
    #[error("plugin `{plugin}` answered the request with an error: {reason}")]
    Answered { plugin: String, reason: String },
    /// It answered with something that is not an `http` result.
    #[error("plugin `{plugin}` answered the request with something that is not an HTTP answer: {reason}")]
    Malformed { plugin: String, reason: String },
    /// No answer within the route timeout; the request was cancelled in the plugin.
    #[error("plugin `{plugin}` did not answer within {} ms (route_timeout_ms); the request was cancelled in the plugin", timeout.as_millis())]
    TimedOut { plugin: String, timeout: Duration },
}

/// A request sent and not answered yet: dropped before its answer (the HTTP client went away),
/// it is forgotten and cancelled in the plugin.
struct InFlight {
    rpc: RpcClient,
    id: i64,
    answered: bool,
}

impl InFlight {
    fn cancel(&mut self, reason: &str) {
        if !self.answered {
            self.answered = true;
            self.rpc.abandon(self.id);
            self.rpc.notify(
                methods::CANCEL,
                json!({"requestId": self.id, "reason": reason}),
            );
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.cancel("the HTTP client went away");
    }
}

/// Sends `params` to a ready instance of `supervisor`'s version: waits up to `ready_within`
/// for one with room under the manifest's concurrency, then up to `timeout` for its answer.
///
/// # Errors
/// [`HttpCallError`]: which of not ready, stopped, failed, crashed, an error answer, a malformed
/// answer or a timeout.
pub async fn http(
    supervisor: &Arc<Supervisor>,
    params: &HttpParams,
    ready_within: Duration,
    timeout: Duration,
) -> Result<HttpResult, HttpCallError> {
    let plugin = supervisor.manifest().id.clone();
    let started = tokio::time::Instant::now();
    let (ready, id, answer) = loop {
        if supervisor.is_stopping() {
            return Err(HttpCallError::Stopped {
                plugin,
                version: supervisor.version().to_owned(),
            });
        }
        if let Some(ready) = supervisor.pick() {
            // Nothing is sent to a connection that closed since the pick: wait for the next.
            match ready.rpc.send_request(methods::HTTP, params) {
                Ok((id, answer)) => break (ready, id, answer),
                Err(error) => tracing::debug!(%plugin, %error, "the picked instance just closed"),
            }
        }
        if let Some(reason) = supervisor.failure() {
            return Err(HttpCallError::Failed { plugin, reason });
        }
        if started.elapsed() >= ready_within {
            return Err(HttpCallError::NotReady {
                plugin,
                waited: ready_within,
            });
        }
        tokio::time::sleep(READY_POLL).await;
    };
    let mut in_flight = InFlight {
        rpc: ready.rpc.clone(),
        id,
        answered: false,
    };
    let outcome = tokio::time::timeout(timeout, answer).await;
    match outcome {
        Err(_) => {
            in_flight.cancel("the route timeout passed");
            Err(HttpCallError::TimedOut { plugin, timeout })
        }
        Ok(Err(_)) => {
            in_flight.answered = true;
            Err(HttpCallError::Crashed {
                plugin,
                reason: "its connection closed before it answered".to_owned(),
            })
        }
        Ok(Ok(Err(RpcError::Remote(error)))) => {
            in_flight.answered = true;
            Err(HttpCallError::Answered {
                plugin,
                reason: error.message,
            })
        }
        Ok(Ok(Err(error))) => {
            in_flight.answered = true;
            Err(HttpCallError::Crashed {
                plugin,
                reason: error.to_string(),
            })
        }
        Ok(Ok(Ok(value))) => {
            in_flight.answered = true;
            serde_json::from_value(value).map_err(|error| HttpCallError::Malformed {
                plugin,
                reason: error.to_string(),
            })
        }
    }
}
