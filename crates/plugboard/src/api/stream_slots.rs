//! How many live streams (SSE and WebSocket) are open, per API token, per client address and in
//! total, and the caps on them (`stream_max_*`). Each open stream holds a file descriptor for as
//! long as its client likes, so without caps any read token could take every descriptor of the
//! process and leave none for the admin or the probes.
//!
//! A stream takes a [`StreamSlot`] before it starts and gives it back when it ends (the slot is
//! dropped with the response or the WebSocket). A stream over a cap is refused with `429` and
//! `Retry-After`. The admin token is counted only in the total, so it is never locked out by a
//! token or an address that holds its share; the total is kept well under the open-file limit
//! (`serve` lowers it to half), so requests that are not streams always get through.
//!
//! Owns: the counts and the refusals. Must not touch: the streams themselves (`streams.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::auth::Caller;
use super::problem::ApiError;
use crate::settings::StreamLimitSettings;

/// What a refused client is told to wait before it tries again, in seconds.
const RETRY_AFTER_SECS: u64 = 10;

/// The open streams of this server.
pub(super) struct StreamSlots {
    limits: StreamLimitSettings,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: u32,
    per_token: HashMap<String, u32>,
    per_address: HashMap<String, u32>,
}

/// One open stream's place; dropping it frees the place.
pub(super) struct StreamSlot {
    slots: Arc<StreamSlots>,
    /// The token and address it is counted against (none for the admin token).
    counted: Option<(String, String)>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn refused(detail: String) -> ApiError {
    ApiError::RateLimited {
        detail,
        retry_after_secs: RETRY_AFTER_SECS,
    }
}

impl StreamSlots {
    pub(super) fn new(limits: StreamLimitSettings) -> Arc<StreamSlots> {
        Arc::new(StreamSlots {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for a stream of `caller` from `address`.
    ///
    /// # Errors
    /// `429` when the caller's token, its address or the server already holds as many streams
    /// as allowed; the detail says which and what to do.
    pub(super) fn open(
        self: &Arc<Self>,
        caller: &Caller,
        address: &str,
    ) -> Result<StreamSlot, ApiError> {
        let mut counts = lock(&self.counts);
        if counts.total >= self.limits.total {
            return Err(refused(format!(
                "this server already has {} live streams open, as many as it allows (stream_max_total, at most half the open-file limit); close a stream or wait {RETRY_AFTER_SECS} s and try again",
                counts.total
            )));
        }
        let counted = match caller {
            Caller::Admin => None,
            Caller::Token(token) => {
                let by_token = counts.per_token.get(&token.id).copied().unwrap_or(0);
                if self.limits.per_token > 0 && by_token >= self.limits.per_token {
                    return Err(refused(format!(
                        "token {} already has {by_token} live streams open, as many as one token may (stream_max_per_token); close one of them or wait {RETRY_AFTER_SECS} s and try again",
                        token.id
                    )));
                }
                let by_address = counts.per_address.get(address).copied().unwrap_or(0);
                if self.limits.per_address > 0 && by_address >= self.limits.per_address {
                    return Err(refused(format!(
                        "client address {address} already has {by_address} live streams open, as many as one address may (stream_max_per_address); close one of them or wait {RETRY_AFTER_SECS} s and try again"
                    )));
                }
                *counts.per_token.entry(token.id.clone()).or_default() += 1;
                *counts.per_address.entry(address.to_owned()).or_default() += 1;
                Some((token.id.clone(), address.to_owned()))
            }
        };
        counts.total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            counted,
        })
    }
}

/// The client's address as the guard saw it (`ConnectInfo`), for the per-address cap.
#[derive(Debug, Clone)]
pub(super) struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<ClientAddress, ApiError> {
        parts
            .extensions
            .get::<ClientAddress>()
            .cloned()
            .ok_or_else(|| {
                ApiError::Internal(
                    "a route that needs the client address is outside the guard".to_owned(),
                )
            })
    }
}

fn release(map: &mut HashMap<String, u32>, key: &str) {
    if let Some(count) = map.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            map.remove(key);
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.slots.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some((token, address)) = &self.counted {
            release(&mut counts.per_token, token);
            release(&mut counts.per_address, address);
        }
    }
}
