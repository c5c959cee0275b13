//! Requests from the plugin to the host (`kv/*`, `emit`): each gets its own id, `p-1`, `p-2`, …
//! (strings, so they never look like the host's numeric ids in a log), and waits for the
//! response with that id, which the loop hands over through a table of pending calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use plugboard_protocol::{ErrorObject, Id, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::errors::HostError;
use crate::outbox::{Outbox, PushError};

/// What the host answered to one call.
pub(crate) enum Answer {
    /// A result.
    Result(Value),
    /// An error.
    Error(ErrorObject),
    /// A line with the call's id that is not a valid response.
    Malformed(String),
}

/// The calls waiting for the host's answer.
pub(crate) struct HostCalls {
    next_id: AtomicU64,
    /// `None` once the loop has stopped: no answer will come.
    pending: Mutex<Option<HashMap<u64, oneshot::Sender<Answer>>>>,
}

/// Removes a call from the table when its caller stops waiting before the answer came.
struct PendingCall<'a> {
    calls: &'a HostCalls,
    number: u64,
}

impl Default for HostCalls {
    fn default() -> HostCalls {
        HostCalls {
            next_id: AtomicU64::new(1),
            pending: Mutex::new(Some(HashMap::new())),
        }
    }
}

impl HostCalls {
    /// Sends `method` with `params` to the host and waits for its answer.
    ///
    /// # Errors
    /// See [`HostError`].
    pub(crate) async fn call<R: DeserializeOwned>(
        &self,
        outbox: &Outbox,
        method: &str,
        params: &(impl Serialize + Sync),
    ) -> Result<R, HostError> {
        let number = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        // The call is in the table before its request is written, so the answer cannot come
        // first.
        match self.lock().as_mut() {
            Some(pending) => pending.insert(number, sender),
            None => return Err(disconnected(method)),
        };
        let pending_call = PendingCall {
            calls: self,
            number,
        };
        match outbox.request(&Id::String(format!("p-{number}")), method, params) {
            Ok(()) => {}
            Err(PushError::Closed) => return Err(disconnected(method)),
            Err(PushError::Serialize(error)) => {
                return Err(HostError::InvalidCall {
                    method: method.to_owned(),
                    reason: format!("the params do not serialise to JSON: {error}"),
                })
            }
        }
        let answer = receiver.await.map_err(|_| disconnected(method))?;
        drop(pending_call);
        match answer {
            Answer::Result(value) => {
                serde_json::from_value(value).map_err(|error| HostError::InvalidAnswer {
                    method: method.to_owned(),
                    reason: error.to_string(),
                })
            }
            Answer::Error(error) => Err(HostError::Rejected {
                method: method.to_owned(),
                error,
            }),
            Answer::Malformed(reason) => Err(HostError::InvalidAnswer {
                method: method.to_owned(),
                reason,
            }),
        }
    }

    /// Hands a response from the host to the call waiting for it. False when no call with its
    /// id is waiting (it never existed, was answered, or its caller left).
    pub(crate) fn complete(&self, response: Response) -> bool {
        let answer = match response.error {
            Some(error) => Answer::Error(error),
            None => Answer::Result(response.result.unwrap_or(Value::Null)),
        };
        self.answer(&response.id, answer)
    }

    /// Answers the call with `id` with `answer` (a response, or the reason a response could
    /// not be read). False when no call with this id is waiting.
    pub(crate) fn answer(&self, id: &Id, answer: Answer) -> bool {
        let Some(sender) = number_of(id).and_then(|number| self.lock().as_mut()?.remove(&number))
        else {
            return false;
        };
        // The caller may have stopped waiting since; then the answer has nobody to go to.
        let _ = sender.send(answer);
        true
    }

    /// Fails every waiting call, and every later one, with [`HostError::Disconnected`].
    pub(crate) fn disconnect(&self) {
        // Dropping the senders wakes their callers with an error.
        self.lock().take();
    }

    fn lock(&self) -> MutexGuard<'_, Option<HashMap<u64, oneshot::Sender<Answer>>>> {
        // A map insert or remove cannot leave it half-changed.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for PendingCall<'_> {
    fn drop(&mut self) {
        if let Some(pending) = self.calls.lock().as_mut() {
            pending.remove(&self.number);
        }
    }
}

fn number_of(id: &Id) -> Option<u64> {
    match id {
        Id::String(text) => text.strip_prefix("p-")?.parse().ok(),
        Id::Number(_) => None,
    }
}

fn disconnected(method: &str) -> HostError {
    HostError::Disconnected {
        method: method.to_owned(),
    }
}
