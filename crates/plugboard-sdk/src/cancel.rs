//! The cancellation of one request: tripped by the host's `cancel` notification, watched by the
//! request's handler through its context.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

/// What a `cancel` without a `reason` is taken to mean.
const DEFAULT_REASON: &str = "the host cancelled the request";

/// A one-way switch shared by the loop and one request's context.
#[derive(Clone, Default)]
pub(crate) struct CancelToken {
    state: Arc<CancelState>,
}

#[derive(Default)]
struct CancelState {
    cancelled: AtomicBool,
    reason: OnceLock<String>,
    notify: Notify,
}

impl CancelToken {
    /// Trips the switch; the first reason given is kept.
    pub(crate) fn cancel(&self, reason: Option<String>) {
        // The reason is set before the flag, so whoever sees the flag sees the reason.
        let _ = self
            .state
            .reason
            .set(reason.unwrap_or_else(|| DEFAULT_REASON.to_owned()));
        if !self.state.cancelled.swap(true, Ordering::AcqRel) {
            self.state.notify.notify_waiters();
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::Acquire)
    }

    /// Why the host cancelled the request, once it has.
    pub(crate) fn reason(&self) -> Option<&str> {
        if !self.is_cancelled() {
            return None;
        }
        self.state.reason.get().map(String::as_str)
    }

    pub(crate) async fn cancelled(&self) {
        // A `Notified` hears `notify_waiters` from the moment it is created, so creating it
        // before reading the flag leaves no gap for a cancel to slip through.
        let notified = self.state.notify.notified();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}
