//! Everything the plugin writes to the host goes through one [`Outbox`]: producers (the loop,
//! request tasks, contexts) serialise their message straight into a shared buffer, and one writer
//! task takes the whole buffer at a time and writes it with one `write_all` and one flush. Under
//! load, every line that became ready while the previous batch was being written goes out in the
//! next batch; nothing is flushed per line, and a message costs no allocation of its own.
//!
//! The envelopes below are borrowed twins of `plugboard_protocol::{Request, Notification,
//! Response}`, with the same members: those own their params and result as a `Value`, which would
//! make every message build a JSON tree only to print it. The tests decode every line the SDK
//! writes with `plugboard_protocol::Message::decode`.

use std::sync::{Mutex, MutexGuard};

use plugboard_protocol::error::INTERNAL_ERROR;
use plugboard_protocol::message::JSONRPC_VERSION;
use plugboard_protocol::{ErrorObject, Id};
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Above this many bytes waiting to be written, log and progress notifications are dropped
/// (and counted) instead of queued: a host that stops reading must not grow the plugin's memory
/// without end. Responses and requests are always queued.
const NOTIFICATION_BACKLOG_LIMIT: usize = 8 * 1024 * 1024;

/// A batch buffer that grew past this is given back after its write.
const KEPT_BUFFER_CAPACITY: usize = 1024 * 1024;

/// The shared output buffer; see the module doc.
#[derive(Default)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    ready: Notify,
}

#[derive(Default)]
struct OutboxState {
    buffer: Vec<u8>,
    closed: bool,
    dropped_notifications: u64,
}

#[derive(Serialize)]
struct OutgoingResult<'a, T> {
    jsonrpc: &'static str,
    id: &'a Id,
    result: &'a T,
}

#[derive(Serialize)]
struct OutgoingError<'a> {
    jsonrpc: &'static str,
    id: &'a Id,
    error: &'a ErrorObject,
}

#[derive(Serialize)]
struct OutgoingRequest<'a, P> {
    jsonrpc: &'static str,
    id: &'a Id,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct OutgoingNotification<'a, P> {
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
}

/// Why a message was not queued.
pub(crate) enum PushError {
    /// The loop has stopped; nothing more will be written.
    Closed,
    /// The message does not serialise to JSON (a caller's own params type).
    Serialize(serde_json::Error),
}

impl Outbox {
    /// Queues the answer to request `id`. A result that does not serialise is answered with an
    /// internal error instead, so the host is never left waiting.
    pub(crate) fn respond<T: Serialize>(&self, id: &Id, outcome: Result<&T, &ErrorObject>) {
        let mut state = self.lock();
        let written = match outcome {
            Ok(result) => state.push(&OutgoingResult {
                jsonrpc: JSONRPC_VERSION,
                id,
                result,
            }),
            Err(error) => state.push(&OutgoingError {
                jsonrpc: JSONRPC_VERSION,
                id,
                error,
            }),
        };
        if let Err(PushError::Serialize(error)) = written {
            let error = ErrorObject::new(
                INTERNAL_ERROR,
                format!("the plugin's answer does not serialise to JSON: {error}"),
            );
            // An error object of strings always serialises; only a closed outbox refuses it.
            let _ = state.push(&OutgoingError {
                jsonrpc: JSONRPC_VERSION,
                id,
                error: &error,
            });
        }
        drop(state);
        self.ready.notify_one();
    }

    /// Queues a request to the host.
    pub(crate) fn request<P: Serialize>(
        &self,
        id: &Id,
        method: &str,
        params: &P,
    ) -> Result<(), PushError> {
        let pushed = self.lock().push(&OutgoingRequest {
            jsonrpc: JSONRPC_VERSION,
            id,
            method,
            params,
        });
        self.ready.notify_one();
        pushed
    }

    /// Queues a notification, unless the backlog is over its limit (then it is counted and
    /// dropped) or the outbox is closed.
    pub(crate) fn notify<P: Serialize>(&self, method: &str, params: &P) {
        let mut state = self.lock();
        if state.buffer.len() > NOTIFICATION_BACKLOG_LIMIT {
            state.dropped_notifications += 1;
            return;
        }
        // A log line or progress of the protocol's own types always serialises.
        let _ = state.push(&OutgoingNotification {
            jsonrpc: JSONRPC_VERSION,
            method,
            params,
        });
        drop(state);
        self.ready.notify_one();
    }

    /// Refuses further messages; the writer ends once it has written what is queued.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        // The state is a buffer and two flags: a panic elsewhere while holding the lock leaves
        // at worst a partial line, which `push` truncates away before the next message.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl OutboxState {
    fn push(&mut self, message: &impl Serialize) -> Result<(), PushError> {
        if self.closed {
            return Err(PushError::Closed);
        }
        let start = self.buffer.len();
        match serde_json::to_writer(&mut self.buffer, message) {
            Ok(()) => {
                self.buffer.push(b'\n');
                Ok(())
            }
            Err(error) => {
                self.buffer.truncate(start);
                Err(PushError::Serialize(error))
            }
        }
    }
}

/// Writes batches from `outbox` to `writer` until the outbox is closed and empty.
///
/// # Errors
/// The first failed write or flush; the outbox is then closed, so later messages are refused
/// instead of piling up.
pub(crate) async fn write_batches<W>(
    outbox: std::sync::Arc<Outbox>,
    mut writer: W,
) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut batch = Vec::new();
    loop {
        let (closed, dropped) = {
            let mut state = outbox.lock();
            std::mem::swap(&mut state.buffer, &mut batch);
            let dropped = std::mem::take(&mut state.dropped_notifications);
            (state.closed, dropped)
        };
        if dropped > 0 {
            eprintln!(
                "plugboard-sdk: dropped {dropped} log/progress notifications: over {NOTIFICATION_BACKLOG_LIMIT} bytes were waiting for the host to read stdout"
            );
        }
        if batch.is_empty() {
            if closed {
                return Ok(());
            }
            outbox.ready.notified().await;
            continue;
        }
        let written = async {
            writer.write_all(&batch).await?;
            writer.flush().await
        }
        .await;
        if let Err(error) = written {
            outbox.close();
            return Err(error);
        }
        batch.clear();
        if batch.capacity() > KEPT_BUFFER_CAPACITY {
            batch = Vec::new();
        }
    }
}
