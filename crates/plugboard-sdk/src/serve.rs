//! The loop: read the host's lines, answer `initialize`, `ping` and `shutdown` in place, hand
//! every other request to a task of its own, route `cancel` to its request and the host's
//! answers to the calls waiting for them.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use plugboard_protocol::error::{
    INVALID_PARAMS, INVALID_REQUEST, JOB_FAILED, UNSUPPORTED_PROTOCOL_VERSION,
};
use plugboard_protocol::methods::{
    CancelParams, ConfigParams, HttpParams, InitializeParams, InitializeResult, RunParams,
    ToolsCallParams, CANCEL, CONFIG_TEST, CONFIG_VALIDATE, HTTP, INITIALIZE, PING, RUN, SHUTDOWN,
    TOOLS_CALL,
};
use plugboard_protocol::{
    DecodeError, ErrorObject, Id, Message, Notification, Request, MAX_LINE_BYTES, PROTOCOL_VERSION,
};
use serde::de::IgnoredAny;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;

use crate::context::Context;
use crate::errors::{PluginError, ServeError};
use crate::handlers::{ConfigTest, Handler, TASK_METHODS};
use crate::host_calls::Answer;
use crate::lines::{Line, LineReader};
use crate::outbox::write_batches;
use crate::plugin::Plugin;
use crate::request::{Link, RequestGuard};
use crate::stdio::{Stdin, Stdout};

/// How long `shutdown` waits for the requests in flight before it stops them, answers, and
/// returns: as long as the host's default cancel grace period (`docs/protocol.md`). A request
/// stopped this way is answered "cancelled" when the host had cancelled it, and otherwise with
/// a retryable failure (the work was abandoned, so another attempt may run it).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the loop, once it is ending, waits for stopped tasks and for the last output to be
/// written before it returns anyway.
const FINAL_WAIT: Duration = Duration::from_secs(5);

/// How much of a bad line the log on stderr shows.
const PREVIEW_BYTES: usize = 200;

/// Runs `plugin` over stdin and stdout on a new multi-threaded tokio runtime until the host
/// sends `shutdown` or closes stdin. Call it from `main`.
///
/// # Errors
/// See [`ServeError`].
pub fn serve_blocking(plugin: impl Plugin) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let outcome = runtime.block_on(serve(plugin));
    // Tokio reads stdin on a blocking thread that may still wait for a line that never comes;
    // waiting for it would keep the process alive after `shutdown` was answered.
    runtime.shutdown_background();
    outcome
}

/// Runs `plugin` over stdin and stdout until the host sends `shutdown` or closes stdin. Needs a
/// tokio runtime with time enabled.
///
/// # Errors
/// See [`ServeError`].
pub async fn serve(plugin: impl Plugin) -> Result<(), ServeError> {
    let input = Stdin::start().map_err(ServeError::Read)?;
    let output = Stdout::start().map_err(ServeError::Write)?;
    serve_with(plugin, input, output).await
}

/// Runs `plugin` over any pair of byte streams: the host's messages come from `input`, the
/// plugin's go to `output`. [`serve`] is this over stdin and stdout; tests use in-memory pipes.
///
/// Returns once `shutdown` is answered (after the requests in flight finished, or after
/// [`SHUTDOWN_GRACE`]), or when `input` ends (the requests in flight are then stopped and
/// answered as at the end of the grace period).
///
/// # Errors
/// See [`ServeError`].
pub async fn serve_with<P, R, W>(plugin: P, input: R, output: W) -> Result<(), ServeError>
where
    P: Plugin,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let link = Arc::new(Link::default());
    let writer = tokio::spawn(write_batches(link.outbox.clone(), output));
    let server = Server {
        plugin: Arc::new(plugin),
        link,
        tasks: JoinSet::new(),
        initialized: false,
        shutdown: None,
    };
    server
        .run(LineReader::new(input, MAX_LINE_BYTES), writer)
        .await
}

struct Server<P> {
    plugin: Arc<P>,
    link: Arc<Link>,
    tasks: JoinSet<()>,
    initialized: bool,
    shutdown: Option<Shutdown>,
}

/// A `shutdown` being carried out.
struct Shutdown {
    /// The `shutdown` requests to answer (the host may repeat itself).
    ids: Vec<Id>,
    grace: Pin<Box<Sleep>>,
    /// The input ended meanwhile: no more answers from the host can come.
    input_ended: bool,
}

/// Why the loop ended.
enum End {
    /// The input ended outside a shutdown.
    InputEnded,
    /// Reading the input failed.
    ReadFailed(std::io::Error),
    /// The writer stopped before it was told to.
    WriterStopped(Result<std::io::Result<()>, tokio::task::JoinError>),
    /// Every request of a shutdown finished.
    ShutdownDone,
    /// A shutdown's grace period passed with requests still in flight.
    GraceOver,
}

/// The result of `ping` and `shutdown`: `{}`.
#[derive(Serialize)]
struct Empty {}

impl<P: Plugin> Server<P> {
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        mut lines: LineReader<R>,
        mut writer: JoinHandle<std::io::Result<()>>,
    ) -> Result<(), ServeError> {
        let end = loop {
            if self.shutdown.is_some() && self.tasks.is_empty() {
                break End::ShutdownDone;
            }
            let reading = self
                .shutdown
                .as_ref()
                .is_none_or(|shutdown| !shutdown.input_ended);
            tokio::select! {
                biased;
                stopped = &mut writer => break End::WriterStopped(stopped),
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                () = grace_over(&mut self.shutdown) => break End::GraceOver,
                line = lines.next(), if reading => match line {
                    Ok(Line::Text(line)) => self.handle_line(line),
                    Ok(Line::TooLong(bytes)) => eprintln!(
                        "plugboard-sdk: discarded a line of {bytes} bytes from the host; the limit is {MAX_LINE_BYTES}"
                    ),
                    Ok(Line::End) => match &mut self.shutdown {
                        Some(shutdown) => {
                            shutdown.input_ended = true;
                            self.link.host_calls.disconnect();
                        }
                        None => break End::InputEnded,
                    },
                    Err(error) => break End::ReadFailed(error),
                },
            }
        };
        self.finish(end, writer).await
    }

    async fn finish(
        mut self,
        end: End,
        writer: JoinHandle<std::io::Result<()>>,
    ) -> Result<(), ServeError> {
        // Whatever ended the loop, nothing still running gets an answer from the host or a
        // chance to finish: stop it, and let its guard answer for it.
        self.link.host_calls.disconnect();
        let _ = tokio::time::timeout(FINAL_WAIT, self.tasks.shutdown()).await;
        let mut outcome = Ok(());
        let mut writer = Some(writer);
        match end {
            End::InputEnded => {}
            End::ReadFailed(error) => outcome = Err(ServeError::Read(error)),
            End::WriterStopped(stopped) => {
                writer = None;
                outcome = writer_outcome(stopped);
            }
            End::ShutdownDone | End::GraceOver => {
                for id in self
                    .shutdown
                    .take()
                    .map(|shutdown| shutdown.ids)
                    .unwrap_or_default()
                {
                    self.link.outbox.respond(&id, Ok(&Empty {}));
                }
            }
        }
        self.link.outbox.close();
        if let Some(writer) = writer {
            match tokio::time::timeout(FINAL_WAIT, writer).await {
                Ok(stopped) => outcome = outcome.and(writer_outcome(stopped)),
                Err(_) => eprintln!(
                    "plugboard-sdk: the host read none of the last output within {} s; stopping without writing the rest",
                    FINAL_WAIT.as_secs()
                ),
            }
        }
        outcome
    }

    fn handle_line(&mut self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            eprintln!(
                "plugboard-sdk: ignored a line from the host that is not UTF-8: {}",
                preview(line)
            );
            return;
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            return;
        }
        match Message::decode(text) {
            Ok(Message::Request(request)) => self.handle_request(request),
            Ok(Message::Notification(notification)) => self.handle_notification(notification),
            Ok(Message::Response(response)) => {
                let id = response.id.clone();
                if !self.link.host_calls.complete(response) {
                    eprintln!("plugboard-sdk: ignored an answer from the host to {id}, which no call is waiting for");
                }
            }
            Err(error) => self.handle_undecodable(text, error),
        }
    }

    fn handle_undecodable(&mut self, text: &str, error: DecodeError) {
        eprintln!(
            "plugboard-sdk: ignored a line from the host that is not a JSON-RPC message ({}): {}",
            error.reason,
            preview(text.as_bytes())
        );
        let Some(id) = error.id else {
            return;
        };
        // `DecodeError::id` is set for broken responses as well as broken requests; answering a
        // response would confuse the host, so only a line with a method gets an error back.
        #[derive(serde::Deserialize)]
        struct MethodMember {
            method: Option<IgnoredAny>,
        }
        let is_request =
            serde_json::from_str::<MethodMember>(text).is_ok_and(|member| member.method.is_some());
        if is_request {
            let error = ErrorObject::new(INVALID_REQUEST, error.reason);
            self.link.outbox.respond::<()>(&id, Err(&error));
        } else {
            // A broken answer to one of our calls fails that call rather than leaving it waiting.
            self.link
                .host_calls
                .answer(&id, Answer::Malformed(error.reason));
        }
    }

    fn handle_request(&mut self, request: Request) {
        let Request {
            id, method, params, ..
        } = request;
        match method.as_str() {
            PING => self.link.outbox.respond(&id, Ok(&Empty {})),
            INITIALIZE => self.initialize(&id, params),
            SHUTDOWN => match &mut self.shutdown {
                Some(shutdown) => shutdown.ids.push(id),
                None => {
                    self.shutdown = Some(Shutdown {
                        ids: vec![id],
                        grace: Box::pin(tokio::time::sleep(SHUTDOWN_GRACE)),
                        input_ended: false,
                    })
                }
            },
            method if TASK_METHODS.contains(&method) => {
                if self.shutdown.is_some() {
                    let error = ErrorObject::new(
                        JOB_FAILED,
                        format!("the plugin is shutting down and takes no new `{method}` requests"),
                    );
                    self.link.outbox.respond::<()>(&id, Err(&error));
                } else if !self.initialized {
                    let error = ErrorObject::new(
                        INVALID_REQUEST,
                        format!("`{method}` came before `initialize`; the host must send `initialize` first"),
                    );
                    self.link.outbox.respond::<()>(&id, Err(&error));
                } else {
                    match method {
                        RUN => self.spawn::<RunParams>(id, RUN, params),
                        CONFIG_VALIDATE => self.spawn::<ConfigParams>(id, CONFIG_VALIDATE, params),
                        CONFIG_TEST => self.spawn::<ConfigTest>(id, CONFIG_TEST, params),
                        TOOLS_CALL => self.spawn::<ToolsCallParams>(id, TOOLS_CALL, params),
                        _ => self.spawn::<HttpParams>(id, HTTP, params),
                    }
                }
            }
            method => {
                let error = ErrorObject::from(PluginError::method_not_found(method));
                self.link.outbox.respond::<()>(&id, Err(&error));
            }
        }
    }

    fn initialize(&mut self, id: &Id, params: Option<Value>) {
        // The version is checked before the rest of the params is read: a host of another
        // version may send other params, and must hear "version" rather than "params".
        let offered = params
            .as_ref()
            .and_then(|params| params.get("protocolVersion"))
            .and_then(Value::as_u64);
        if let Some(offered) = offered.filter(|&offered| offered != u64::from(PROTOCOL_VERSION)) {
            let error = ErrorObject {
                code: UNSUPPORTED_PROTOCOL_VERSION,
                message: format!(
                    "this plugin speaks protocol {PROTOCOL_VERSION}; plugboard sent protocol {offered}"
                ),
                data: Some(json!({"supported": [PROTOCOL_VERSION]})),
            };
            self.link.outbox.respond::<()>(id, Err(&error));
            return;
        }
        let params: InitializeParams = match parse_params(INITIALIZE, params) {
            Ok(params) => params,
            Err(error) => {
                self.link.outbox.respond::<()>(id, Err(&error));
                return;
            }
        };
        self.link.set_data_dir(params.data_dir.into());
        self.initialized = true;
        let result = InitializeResult {
            protocol_version: PROTOCOL_VERSION,
            plugin: self.plugin.info(),
            metadata: self.plugin.metadata(),
        };
        self.link.outbox.respond(id, Ok(&result));
    }

    fn spawn<H: Handler>(&mut self, id: Id, method: &'static str, params: Option<Value>) {
        let params: H = match parse_params(method, params) {
            Ok(params) => params,
            Err(error) => {
                self.link.outbox.respond::<()>(&id, Err(&error));
                return;
            }
        };
        let Some(cancel) = self.link.start_request(&id) else {
            let error = ErrorObject::new(
                INVALID_REQUEST,
                format!("a request with id {id} is already in flight; ids must be unique among requests in flight"),
            );
            self.link.outbox.respond::<()>(&id, Err(&error));
            return;
        };
        let ctx = Context::new(
            id.clone(),
            params.tenant(),
            cancel.clone(),
            self.link.clone(),
        );
        let guard = RequestGuard::new(id, method, cancel, self.link.clone());
        let plugin = self.plugin.clone();
        self.tasks.spawn(async move {
            let outcome = params.call(&*plugin, ctx).await;
            guard.finish(outcome);
        });
    }

    fn handle_notification(&mut self, notification: Notification) {
        if notification.method != CANCEL {
            // JSON-RPC lets a receiver ignore notifications it does not know.
            return;
        }
        match parse_params::<CancelParams>(CANCEL, notification.params) {
            Ok(cancel) => self.link.cancel_request(&cancel.request_id, cancel.reason),
            Err(error) => eprintln!("plugboard-sdk: ignored a `cancel`: {}", error.message),
        }
    }
}

/// Completes when the shutdown's grace period is over; never without a shutdown.
async fn grace_over(shutdown: &mut Option<Shutdown>) {
    match shutdown {
        Some(shutdown) => shutdown.grace.as_mut().await,
        None => std::future::pending().await,
    }
}

fn parse_params<T: serde::de::DeserializeOwned>(
    method: &str,
    params: Option<Value>,
) -> Result<T, ErrorObject> {
    let params = params.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    serde_json::from_value(params).map_err(|error| {
        ErrorObject::new(
            INVALID_PARAMS,
            format!("the params of `{method}` do not fit: {error}"),
        )
    })
}

fn writer_outcome(
    stopped: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> Result<(), ServeError> {
    match stopped {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ServeError::Write(error)),
        Err(join_error) => Err(ServeError::Write(std::io::Error::other(format!(
            "the writer task stopped: {join_error}"
        )))),
    }
}

fn preview(line: &[u8]) -> String {
    let shown = &line[..line.len().min(PREVIEW_BYTES)];
    let ellipsis = if line.len() > PREVIEW_BYTES {
        "…"
    } else {
        ""
    };
    format!("{}{ellipsis}", String::from_utf8_lossy(shown))
}
