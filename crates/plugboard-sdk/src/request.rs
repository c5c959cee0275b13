//! The state the loop shares with every request ([`Link`]), and the guard that makes sure every
//! request the loop accepted gets exactly one answer, even when its handler panics or is stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use plugboard_protocol::error::INTERNAL_ERROR;
use plugboard_protocol::{ErrorObject, Id};
use serde::Serialize;

use crate::cancel::CancelToken;
use crate::errors::PluginError;
use crate::host_calls::HostCalls;
use crate::outbox::Outbox;

/// What the loop, the request tasks and their contexts share.
#[derive(Default)]
pub(crate) struct Link {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) host_calls: HostCalls,
    /// The host's requests being handled, by id, with their cancellation.
    in_flight: Mutex<HashMap<Id, CancelToken>>,
    data_dir: OnceLock<PathBuf>,
}

/// Answers its request when dropped unanswered: with an internal error while a panic unwinds;
/// when the task was stopped (the input ended, or `shutdown` gave up waiting), with "cancelled"
/// if the host had cancelled the request and with a retryable failure if not: the work was
/// abandoned, not refused.
pub(crate) struct RequestGuard {
    id: Option<Id>,
    method: &'static str,
    cancel: CancelToken,
    link: Arc<Link>,
}

impl Link {
    /// Records request `id` as in flight and returns its cancellation, or `None` when a request
    /// with this id is already in flight.
    pub(crate) fn start_request(&self, id: &Id) -> Option<CancelToken> {
        let mut in_flight = self.in_flight();
        if in_flight.contains_key(id) {
            return None;
        }
        let token = CancelToken::default();
        in_flight.insert(id.clone(), token.clone());
        Some(token)
    }

    /// Trips the cancellation of request `id`, if it is still in flight.
    pub(crate) fn cancel_request(&self, id: &Id, reason: Option<String>) {
        if let Some(token) = self.in_flight().get(id) {
            token.cancel(reason);
        }
    }

    pub(crate) fn set_data_dir(&self, data_dir: PathBuf) {
        // A second `initialize` keeps the first directory: contexts already hold it.
        let _ = self.data_dir.set(data_dir);
    }

    pub(crate) fn data_dir(&self) -> Option<&Path> {
        self.data_dir.get().map(PathBuf::as_path)
    }

    fn in_flight(&self) -> MutexGuard<'_, HashMap<Id, CancelToken>> {
        // A map insert or remove cannot leave it half-changed.
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl RequestGuard {
    pub(crate) fn new(
        id: Id,
        method: &'static str,
        cancel: CancelToken,
        link: Arc<Link>,
    ) -> RequestGuard {
        RequestGuard {
            id: Some(id),
            method,
            cancel,
            link,
        }
    }

    /// Answers the request with the handler's outcome.
    pub(crate) fn finish<T: Serialize>(mut self, outcome: Result<T, PluginError>) {
        if let Some(id) = self.id.take() {
            let outcome = outcome.map_err(ErrorObject::from);
            self.answer(&id, outcome.as_ref());
        }
    }

    fn answer<T: Serialize>(&self, id: &Id, outcome: Result<&T, &ErrorObject>) {
        // The id leaves the table before the answer is queued: once the host reads the answer,
        // it may reuse the id.
        self.link.in_flight().remove(id);
        self.link.outbox.respond(id, outcome);
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let method = self.method;
        let error = if std::thread::panicking() {
            ErrorObject::new(
                INTERNAL_ERROR,
                format!("the plugin panicked while handling `{method}`; its stderr has the panic message"),
            )
        } else if let Some(reason) = self.cancel.reason() {
            ErrorObject::from(PluginError::cancelled_because(reason))
        } else {
            ErrorObject::job_failed(format!(
                "the plugin stopped before `{method}` finished; another attempt may succeed"
            ))
        };
        self.answer::<()>(&id, Err(&error));
    }
}
