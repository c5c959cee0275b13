//! Live streams, one producer and two transports: Server-Sent Events (`Accept:
//! text/event-stream`) and WebSocket (an upgrade request offering the subprotocol
//! `plugboard.v1`).
//!
//! A producer task sends [`StreamEvent`]s; SSE writes each as `event:`, `id:` and `data:` lines,
//! WebSocket as one text frame `{"event": …, "id": …, "data": …}`. Either way the `id` is what a
//! client resumes from: `Last-Event-ID` for SSE, the endpoint's `after`/`after_seq` parameter
//! for WebSocket. Every stream ends when the server stops, so open streams never hold up a
//! shutdown, and each holds a place under the stream caps (`stream_slots.rs`) until it ends.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::header::{ACCEPT, CACHE_CONTROL, UPGRADE};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::auth::WEBSOCKET_PROTOCOL;
use super::metrics::SseGuard;
use super::problem::ApiError;
use super::stream_slots::StreamSlot;
use super::AppState;

/// How often an idle stream shows it is alive (an SSE comment, a WebSocket ping).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One event of a stream.
#[derive(Debug)]
pub(super) struct StreamEvent {
    pub event: &'static str,
    /// What a client resumes after; `None` for events that are not a position (`end`, `error`).
    pub id: Option<String>,
    /// The data as JSON text, one line; shared when many streams send the same event.
    pub data: Arc<str>,
}

impl StreamEvent {
    pub(super) fn new(
        event: &'static str,
        id: Option<String>,
        data: &impl Serialize,
    ) -> StreamEvent {
        StreamEvent {
            event,
            id,
            data: render(data).into(),
        }
    }

    pub(super) fn error(error: ApiError) -> StreamEvent {
        let problem = error.problem();
        StreamEvent::new(
            "error",
            None,
            &json!({"title": problem.title, "detail": problem.detail}),
        )
    }
}

/// `data` as one line of JSON.
pub(super) fn render(data: &impl Serialize) -> String {
    serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned())
}

/// How a request wants its answer.
pub(super) enum Transport {
    /// A JSON page.
    Page,
    Sse,
    WebSocket(WebSocketUpgrade),
}

impl Transport {
    /// Reads the transport from the request: a WebSocket upgrade, `Accept: text/event-stream`,
    /// or neither.
    ///
    /// # Errors
    /// A request that asks to upgrade to a WebSocket but is not a valid upgrade.
    pub(super) fn of(
        headers: &HeaderMap,
        upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    ) -> Result<Transport, ApiError> {
        let asks_upgrade = headers
            .get(UPGRADE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
        if asks_upgrade {
            return match upgrade {
                Ok(upgrade) => Ok(Transport::WebSocket(upgrade)),
                Err(rejection) => Err(ApiError::BadRequest(format!(
                    "this WebSocket upgrade cannot be accepted: {}",
                    rejection.body_text()
                ))),
            };
        }
        let wants_sse = headers
            .get(ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/event-stream"));
        Ok(if wants_sse {
            Transport::Sse
        } else {
            Transport::Page
        })
    }

    pub(super) fn is_stream(&self) -> bool {
        !matches!(self, Transport::Page)
    }

    /// Runs `producer` and streams what it sends over this transport, holding `slot` until the
    /// stream ends. A page transport answers nothing useful here: callers answer pages
    /// themselves.
    pub(super) fn respond<F, Fut>(self, state: &AppState, slot: StreamSlot, producer: F) -> Response
    where
        F: FnOnce(mpsc::Sender<StreamEvent>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (sender, receiver) = mpsc::channel(64);
        let stop = state.stop.clone();
        // The producer ends with the response: a client that leaves (or an upgrade that never
        // happens) stops it at once, not at its next event.
        let task = AbortOnDrop(tokio::spawn(producer(sender)));
        state.metrics.sse_opened();
        let guard = SseGuard(state.metrics.clone());
        match self {
            Transport::WebSocket(upgrade) => {
                upgrade
                    .protocols([WEBSOCKET_PROTOCOL])
                    .on_upgrade(move |socket| async move {
                        let _guard = guard;
                        let _slot = slot;
                        let _task = task;
                        pump(socket, receiver, stop).await;
                    })
            }
            Transport::Sse | Transport::Page => {
                let events = futures_util::stream::unfold(
                    (receiver, stop, guard, task, slot),
                    |(mut receiver, stop, guard, task, slot)| async move {
                        let event = tokio::select! {
                            () = stop.cancelled() => None,
                            event = receiver.recv() => event,
                        }?;
                        Some((
                            Ok::<_, Infallible>(sse_event(event)),
                            (receiver, stop, guard, task, slot),
                        ))
                    },
                );
                let mut response = Sse::new(events)
                    .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
                    .into_response();
                response.headers_mut().insert(
                    CACHE_CONTROL,
                    "no-cache".parse().expect("a valid header value"),
                );
                response
            }
        }
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn sse_event(event: StreamEvent) -> Event {
    let mut sse = Event::default().event(event.event);
    if let Some(id) = event.id {
        sse = sse.id(id);
    }
    sse.data(&*event.data)
}

/// Sends the producer's events as text frames until it ends, the client leaves or the server
/// stops; answers the client's frames (pings are answered by the socket itself) and pings an
/// idle client.
async fn pump(
    mut socket: WebSocket,
    mut events: mpsc::Receiver<StreamEvent>,
    stop: CancellationToken,
) {
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                let _ = socket.send(close(1001, "the server is stopping; reconnect to resume")).await;
                return;
            }
            event = events.recv() => {
                let Some(event) = event else {
                    let _ = socket.send(close(1000, "the stream ended")).await;
                    return;
                };
                // Spliced, not re-parsed: the data is JSON text already.
                let frame = format!(
                    "{{\"event\":{},\"id\":{},\"data\":{}}}",
                    render(&event.event),
                    render(&event.id),
                    event.data
                );
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = keep_alive.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}
