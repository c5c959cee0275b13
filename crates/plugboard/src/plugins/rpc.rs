//! The host's end of one plugin connection: JSON-RPC 2.0 over the plugin's stdin and stdout,
//! one message per line, requests in both directions, several in flight, answers matched by id.
//!
//! Whatever the plugin writes, the host keeps running: a line that is not a message, a line over
//! [`MAX_LINE_BYTES`] (read and thrown away in pieces, never held whole), an answer to a request
//! nobody made — each is a protocol fault, counted and logged, and the connection goes on.
//!
//! Whatever the plugin does not read, the host does not keep without bound either. Everything on
//! its way to the plugin (answers, requests, notifications) is counted in bytes in one outgoing
//! queue, and each request from the plugin holds [`HOST_ANSWER_RESERVE`] bytes of it until its
//! answer is queued. While the queue holds [`ConnectionLimits::outgoing_bytes`] or more, the host
//! reads nothing more from the plugin (backpressure: a plugin that does not read cannot make the
//! host produce more answers). A write to the plugin's stdin that makes no progress for
//! [`ConnectionLimits::write_stall`] closes the connection ([`RpcClient::stalled`]); the
//! supervisor then replaces the process as it does after a crash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::{
    ErrorObject, Id, Message, Notification, Request, Response, MAX_LINE_BYTES,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// What the plugin may ask of the host (`kv/*`, `emit`) and tell it (`log`, `progress`).
#[async_trait]
pub trait HostServices: Send + Sync + 'static {
    /// Answers a request from the plugin.
    async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ErrorObject>;

    /// Takes a notification from the plugin.
    fn notification(&self, method: &str, params: Option<Value>);

    /// Hears of a line on the plugin's stdout that is not a message (a debug print, a message
    /// spread over several lines), while the host's requests `waiting` were unanswered, from a
    /// process that was sent requests for the tenants `served` (`None`: for no tenant) since it
    /// started: the job behind the request may say so in its log, where no other tenant's
    /// text can reach. `line` is cut to [`STRAY_LINE_SHOWN`] characters.
    fn stray_line(
        &self,
        _line: &str,
        _reason: &str,
        _waiting: &[i64],
        _served: &std::collections::HashSet<Option<String>>,
    ) {
    }
}

/// How much of a stray stdout line the host keeps to show.
pub const STRAY_LINE_SHOWN: usize = 200;

/// What the host has read on a plugin's stdout so far: enough to say why a plugin that never
/// answered did not, when its output is buffered or its messages are not one line each.
#[derive(Debug, Default, Clone)]
pub struct StdoutSeen {
    /// Lines read, messages or not.
    pub lines: u64,
    /// Lines that were not messages, how many.
    pub strays: u64,
    /// The first lines that were not messages, cut to [`STRAY_LINE_SHOWN`] characters, with
    /// why each is not a message.
    pub first_strays: Vec<(String, String)>,
    /// The start of a line the plugin began and has not ended with a newline yet.
    pub unfinished: Option<String>,
}

impl StdoutSeen {
    /// Why a plugin that did not answer in time may not have, from what it wrote: a sentence
    /// starting with "its stdout" or "it wrote", or `None` when its stdout looked healthy.
    pub fn diagnosis(&self) -> Option<String> {
        const RULE: &str = "each message is one line of JSON ended by a newline, and stdout must be flushed after each (Python: `print(..., flush=True)` or `sys.stdout.flush()`; C: `fflush(stdout)`)";
        if let Some((line, reason)) = self.first_strays.first() {
            let several = if line.trim() == "{" || line.trim() == "[" || line.starts_with(' ') {
                " is the JSON pretty-printed over several lines?"
            } else {
                ""
            };
            return Some(format!(
                "its stdout had {} that {}, the first {line:?} ({reason});{several} {RULE}; debug output belongs on stderr",
                crate::words::count(self.strays, "line"),
                if self.strays == 1 {
                    "is not a JSON-RPC message"
                } else {
                    "are not JSON-RPC messages"
                },
            ));
        }
        if let Some(start) = &self.unfinished {
            return Some(format!(
                "its stdout holds a line that was never ended with a newline: {start:?}; {RULE}"
            ));
        }
        if self.lines == 0 {
            return Some(format!(
                "it wrote nothing on its stdout: is its output buffered? {RULE}"
            ));
        }
        None
    }
}

/// Why a call to the plugin did not get a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    /// The plugin answered with an error.
    #[error("{0}")]
    Remote(ErrorObject),
    /// The connection is gone (the plugin exited or closed stdout).
    #[error("the plugin's connection closed: {0}")]
    Closed(String),
    /// No answer in time.
    #[error("the plugin did not answer `{method}` within {} ms", timeout.as_millis())]
    Timeout { method: String, timeout: Duration },
    /// The plugin's process ended before it answered: how, with its last stderr lines.
    #[error("{0}")]
    Exited(String),
}

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Result<Value, RpcError>>>>>;

/// The bytes queued for the plugin are bounded, and a plugin that stops reading is cut off.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// While this many bytes or more wait to be written to the plugin (answers held for it
    /// included), the host reads nothing more from it. Default 32 MiB.
    pub outgoing_bytes: usize,
    /// A write to the plugin's stdin that makes no progress for this long closes the
    /// connection. Default 30 s.
    pub write_stall: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            outgoing_bytes: 32 * 1024 * 1024,
            write_stall: Duration::from_secs(30),
        }
    }
}

/// Bytes held in the outgoing queue for each request from the plugin until its answer is
/// queued: the largest answer the host services give (`kv/get` of a 1 MiB value), so that the
/// answers being worked out count against [`ConnectionLimits::outgoing_bytes`] before they exist.
pub const HOST_ANSWER_RESERVE: usize = 1024 * 1024 + 4096;

/// What [`RpcClient::start_with`] needs besides the plugin's stdout and stdin.
pub struct ConnectionParams {
    /// Names the plugin in logs.
    pub label: String,
    pub services: Arc<dyn HostServices>,
    /// Where request ids come from: connections that share it never reuse each other's ids, so
    /// host services can tell their requests apart by id alone.
    pub ids: Arc<AtomicI64>,
    pub limits: ConnectionLimits,
}

/// A live connection. Cheap to clone; every clone talks to the same plugin.
#[derive(Clone)]
pub struct RpcClient {
    outgoing: Arc<Outbox>,
    close: tokio_util::sync::CancellationToken,
    pending: Pending,
    next_id: Arc<AtomicI64>,
    faults: Arc<AtomicU64>,
    closed: watch::Receiver<Option<String>>,
    stdout: Arc<Mutex<StdoutSeen>>,
    /// The tenants the host's requests to this process were for (`None`: for no tenant), since
    /// it started: what it writes may concern any of them.
    tenants: Arc<Mutex<std::collections::HashSet<Option<String>>>>,
}

/// Requests that carry no one's data: their tenant is not recorded.
const HOUSEKEEPING: &[&str] = &["initialize", "ping", "shutdown"];

/// The messages waiting to be written to the plugin, counted in bytes.
struct Outbox {
    lines: mpsc::UnboundedSender<String>,
    /// Bytes queued, in the writer's hands and reserved for answers being worked out.
    queued: AtomicUsize,
    /// The most `queued` has been.
    peak: AtomicUsize,
    /// Told when bytes leave the queue.
    room: Notify,
    limits: ConnectionLimits,
    /// Cancelled when the writer gave up on a plugin that does not read.
    stalled: tokio_util::sync::CancellationToken,
    stall_reason: Mutex<Option<String>>,
}

impl Outbox {
    fn add(&self, bytes: usize) {
        let now = self.queued.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn remove(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        self.room.notify_waiters();
    }

    /// Queues a line (without its newline); false when the writer is gone.
    fn push(&self, line: String) -> bool {
        self.push_reserved(line, 0)
    }

    /// Queues a line that takes the place of `reserved` bytes held for it.
    fn push_reserved(&self, line: String, reserved: usize) -> bool {
        let bytes = line.len() + 1;
        // One step from the reservation to the real size: the count never holds both.
        if bytes >= reserved {
            self.add(bytes - reserved);
        } else {
            self.remove(reserved - bytes);
        }
        if self.lines.send(line).is_err() {
            self.remove(bytes);
            return false;
        }
        true
    }

    /// Waits until the queue is under its limit.
    async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // A closed queue is never written again: waiting for room would be for ever.
            if self.queued.load(Ordering::Acquire) < self.limits.outgoing_bytes
                || self.lines.is_closed()
            {
                return;
            }
            notified.await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RpcClient {
    /// Starts reading `from_plugin` and writing `to_plugin`. `label` names the plugin in logs.
    pub fn start<R, W>(
        label: String,
        from_plugin: R,
        to_plugin: W,
        services: Arc<dyn HostServices>,
    ) -> RpcClient
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        RpcClient::start_with(
            from_plugin,
            to_plugin,
            ConnectionParams {
                label,
                services,
                ids: Arc::new(AtomicI64::new(1)),
                limits: ConnectionLimits::default(),
            },
        )
    }

    /// As [`RpcClient::start`], with the ids and limits of `params`.
    pub fn start_with<R, W>(from_plugin: R, to_plugin: W, params: ConnectionParams) -> RpcClient
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let ConnectionParams {
            label,
            services,
            ids,
            limits,
        } = params;
        let (lines_sender, lines) = mpsc::unbounded_channel();
        let outgoing = Arc::new(Outbox {
            lines: lines_sender,
            queued: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            room: Notify::new(),
            limits,
            stalled: tokio_util::sync::CancellationToken::new(),
            stall_reason: Mutex::new(None),
        });
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let faults = Arc::new(AtomicU64::new(0));
        let (closed_sender, closed) = watch::channel(None);
        let close = tokio_util::sync::CancellationToken::new();
        let stdout = Arc::new(Mutex::new(StdoutSeen::default()));
        let client = RpcClient {
            outgoing,
            close: close.clone(),
            pending: pending.clone(),
            next_id: ids,
            faults: faults.clone(),
            closed,
            stdout: stdout.clone(),
            tenants: Arc::default(),
        };
        tokio::spawn(write_loop(to_plugin, lines, close, client.outgoing.clone()));
        let reader = Reader {
            label,
            pending,
            faults,
            services,
            outgoing: client.outgoing.clone(),
            host_requests: Arc::new(tokio::sync::Semaphore::new(MAX_HOST_REQUESTS_IN_FLIGHT)),
            stdout,
            tenants: client.tenants.clone(),
        };
        tokio::spawn(async move {
            let reason = reader.run(from_plugin).await;
            let mut pending = lock(&reader.pending);
            for (_, waiter) in pending.drain() {
                let _ = waiter.send(Err(RpcError::Closed(reason.clone())));
            }
            drop(pending);
            let _ = closed_sender.send(Some(reason));
        });
        client
    }

    /// Calls `method` and waits up to `timeout` for the answer.
    pub async fn call(
        &self,
        method: &str,
        params: impl serde::Serialize,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let (id, answer) = self.send_request(method, params)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(RpcError::Closed("the connection ended".to_owned())),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(RpcError::Timeout {
                    method: method.to_owned(),
                    timeout,
                })
            }
        }
    }

    /// Sends a request and returns its id and the answer to come, for callers that need the id
    /// (to cancel it) before the answer.
    pub fn send_request(
        &self,
        method: &str,
        params: impl serde::Serialize,
    ) -> Result<(i64, oneshot::Receiver<Result<Value, RpcError>>), RpcError> {
        let id = self.reserve_id();
        self.send_request_as(id, method, params)
            .map(|answer| (id, answer))
    }

    /// An id for a request about to be sent with [`RpcClient::send_request_as`], for callers that
    /// must record it before the plugin can refer to it.
    pub fn reserve_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a request under an id from [`RpcClient::reserve_id`].
    pub fn send_request_as(
        &self,
        id: i64,
        method: &str,
        params: impl serde::Serialize,
    ) -> Result<oneshot::Receiver<Result<Value, RpcError>>, RpcError> {
        if let Some(reason) = self.closed.borrow().clone() {
            return Err(RpcError::Closed(reason));
        }
        let (sender, answer) = oneshot::channel();
        let request = Request::new(Id::Number(id), method, params);
        if !HOUSEKEEPING.contains(&method) {
            let tenant = request
                .params
                .as_ref()
                .and_then(|params| params.get("tenant"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            lock(&self.tenants).insert(tenant);
        }
        lock(&self.pending).insert(id, sender);
        let line = Message::Request(request).encode();
        if !self.outgoing.push(line) {
            lock(&self.pending).remove(&id);
            return Err(RpcError::Closed("the plugin's stdin is closed".to_owned()));
        }
        Ok(answer)
    }

    /// Closes the plugin's stdin (after writing what is queued is not guaranteed): the polite
    /// way to tell a plugin to exit after `shutdown`.
    pub fn close_stdin(&self) {
        self.close.cancel();
    }

    /// Forgets a request whose answer is no longer wanted.
    pub fn abandon(&self, id: i64) {
        lock(&self.pending).remove(&id);
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str, params: impl serde::Serialize) {
        let line = Message::Notification(Notification::new(method, params)).encode();
        self.outgoing.push(line);
    }

    /// Bytes waiting to be written to the plugin now, answers being worked out included.
    pub fn queued_bytes(&self) -> usize {
        self.outgoing.queued.load(Ordering::Relaxed)
    }

    /// The most bytes that ever waited to be written to the plugin on this connection.
    pub fn peak_queued_bytes(&self) -> usize {
        self.outgoing.peak.load(Ordering::Relaxed)
    }

    /// True when the host closed the connection because the plugin stopped reading its stdin.
    pub fn stalled(&self) -> bool {
        self.outgoing.stalled.is_cancelled()
    }

    /// True once the connection closed (the process exited or closed its stdout), even before
    /// its supervisor noticed.
    pub fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }

    /// Requests waiting for an answer.
    pub fn in_flight(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Protocol faults seen so far (lines that were not messages, unknown answers, …).
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// The tenants the host's requests to this process were for since it started (`None`: for
    /// no tenant): what it writes may concern any of them.
    pub fn served(&self) -> std::collections::HashSet<Option<String>> {
        lock(&self.tenants).clone()
    }

    /// What the host has read on the plugin's stdout so far.
    pub fn stdout_seen(&self) -> StdoutSeen {
        lock(&self.stdout).clone()
    }

    /// Completes when the connection has closed, with why.
    pub async fn closed(&self) -> String {
        let mut closed = self.closed.clone();
        loop {
            if let Some(reason) = closed.borrow().clone() {
                return reason;
            }
            if closed.changed().await.is_err() {
                return "the connection ended".to_owned();
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut to_plugin: W,
    mut lines: mpsc::UnboundedReceiver<String>,
    close: tokio_util::sync::CancellationToken,
    outbox: Arc<Outbox>,
) {
    let polite = write_lines(&mut to_plugin, &mut lines, &close, &outbox).await;
    // Nothing will be written any more: whoever waits for room must not wait for ever.
    lines.close();
    drop(lines);
    outbox.room.notify_waiters();
    if polite {
        // Closing stdin tells the plugin to exit.
        let _ = to_plugin.shutdown().await;
    }
    drop(to_plugin);
}

/// Writes lines until the queue or the plugin's stdin closes, `close` is cancelled or the plugin
/// stops reading. True when stdin should be closed politely.
async fn write_lines<W: AsyncWrite + Unpin>(
    to_plugin: &mut W,
    lines: &mut mpsc::UnboundedReceiver<String>,
    close: &tokio_util::sync::CancellationToken,
    outbox: &Outbox,
) -> bool {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        let line = tokio::select! {
            line = lines.recv() => match line {
                Some(line) => line,
                None => return true,
            },
            () = close.cancelled() => return true,
        };
        buffer.clear();
        buffer.extend_from_slice(line.as_bytes());
        buffer.push(b'\n');
        drop(line);
        // Write everything queued meanwhile in the same system call.
        while buffer.len() < 1 << 20 {
            match lines.try_recv() {
                Ok(line) => {
                    buffer.extend_from_slice(line.as_bytes());
                    buffer.push(b'\n');
                }
                Err(_) => break,
            }
        }
        let outcome = tokio::select! {
            outcome = write_with_progress(to_plugin, &buffer, outbox.limits.write_stall) => outcome,
            () = close.cancelled() => return true,
        };
        outbox.remove(buffer.len());
        match outcome {
            Written::All => {}
            Written::Closed => return false,
            Written::Stalled { written } => {
                let waiting = outbox.queued.load(Ordering::Relaxed) + buffer.len() - written;
                *lock(&outbox.stall_reason) = Some(format!(
                    "the plugin stopped reading its stdin: a write to it made no progress for {} s with {waiting} bytes waiting for it; the host closed the connection and replaces the process; if this repeats, the plugin must be fixed to read the host's answers while it sends requests",
                    outbox.limits.write_stall.as_secs_f64()
                ));
                outbox.stalled.cancel();
                return false;
            }
        }
        if buffer.capacity() > 4 << 20 {
            buffer = Vec::with_capacity(64 * 1024);
        }
    }
}

enum Written {
    All,
    /// The plugin's stdin is closed.
    Closed,
    /// A write made no progress within the stall limit, after `written` bytes.
    Stalled {
        written: usize,
    },
}

/// Writes `buffer`, giving up when one write makes no progress for `stall`.
async fn write_with_progress<W: AsyncWrite + Unpin>(
    to_plugin: &mut W,
    buffer: &[u8],
    stall: Duration,
) -> Written {
    let mut written = 0;
    while written < buffer.len() {
        match tokio::time::timeout(stall, to_plugin.write(&buffer[written..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Written::Closed,
            Ok(Ok(count)) => written += count,
            Err(_) => return Written::Stalled { written },
        }
    }
    match tokio::time::timeout(stall, to_plugin.flush()).await {
        Ok(Ok(())) => Written::All,
        Ok(Err(_)) => Written::Closed,
        Err(_) => Written::Stalled { written },
    }
}

struct Reader {
    label: String,
    pending: Pending,
    faults: Arc<AtomicU64>,
    services: Arc<dyn HostServices>,
    outgoing: Arc<Outbox>,
    /// Requests from the plugin being answered now; see [`MAX_HOST_REQUESTS_IN_FLIGHT`].
    host_requests: Arc<tokio::sync::Semaphore>,
    stdout: Arc<Mutex<StdoutSeen>>,
    tenants: Arc<Mutex<std::collections::HashSet<Option<String>>>>,
}

/// Requests a plugin process may have waiting for the host's answer at once (kv, emit); beyond,
/// the host answers at once with an error that says to wait.
const MAX_HOST_REQUESTS_IN_FLIGHT: usize = 1024;

impl Reader {
    fn fault(&self, what: &str) {
        let count = self.faults.fetch_add(1, Ordering::Relaxed) + 1;
        // Log the first faults and then every thousandth, so garbage cannot flood the host's log.
        if count <= 10 || count.is_multiple_of(1000) {
            tracing::warn!(plugin = %self.label, faults = count, "protocol fault: {what}");
        }
    }

    /// A line that is not a message: counted, kept when among the first, and told to the jobs
    /// waiting on this connection.
    fn stray(&self, line: &str, reason: &str) {
        let shown: String = line.chars().take(STRAY_LINE_SHOWN).collect();
        {
            let mut seen = lock(&self.stdout);
            seen.strays += 1;
            if seen.first_strays.len() < 3 {
                seen.first_strays.push((shown.clone(), reason.to_owned()));
            }
        }
        let waiting: Vec<i64> = lock(&self.pending).keys().copied().collect();
        let served = lock(&self.tenants).clone();
        self.services.stray_line(&shown, reason, &waiting, &served);
    }

    fn stall_reason(&self) -> String {
        lock(&self.outgoing.stall_reason)
            .clone()
            .unwrap_or_else(|| "the plugin stopped reading its stdin".to_owned())
    }

    /// Reads until the plugin closes stdout; returns why the connection ended.
    async fn run<R: AsyncRead + Unpin>(&self, from_plugin: R) -> String {
        let mut reader = BufReader::with_capacity(64 * 1024, from_plugin);
        let mut line: Vec<u8> = Vec::new();
        let mut oversized = false;
        let mut told_unfinished = false;
        loop {
            // Backpressure: while the plugin has not read what is queued for it, nothing more is
            // read from it, so it cannot make the host produce more answers.
            tokio::select! {
                biased;
                () = self.outgoing.stalled.cancelled() => return self.stall_reason(),
                () = self.outgoing.room() => {}
            }
            let available = tokio::select! {
                biased;
                () = self.outgoing.stalled.cancelled() => return self.stall_reason(),
                filled = reader.fill_buf() => match filled {
                    Ok(available) => available,
                    Err(error) => return format!("reading the plugin's stdout failed: {error}"),
                },
            };
            if available.is_empty() {
                if !line.is_empty() && !oversized {
                    self.fault("the last line has no newline");
                }
                return "the plugin closed its stdout".to_owned();
            }
            let (chunk, complete) = match available.iter().position(|byte| *byte == b'\n') {
                Some(end) => (&available[..end], Some(end + 1)),
                None => (available, None),
            };
            if !oversized {
                if line.len() + chunk.len() > MAX_LINE_BYTES {
                    oversized = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let consumed = complete.unwrap_or(available.len());
            reader.consume(consumed);
            if complete.is_none() && !told_unfinished {
                // Kept for a diagnosis if no newline follows (unflushed or unended output).
                let start = String::from_utf8_lossy(&line[..line.len().min(STRAY_LINE_SHOWN)]);
                lock(&self.stdout).unfinished = Some(start.into_owned());
                told_unfinished = true;
            }
            if complete.is_some() {
                {
                    let mut seen = lock(&self.stdout);
                    seen.lines += 1;
                    if told_unfinished {
                        seen.unfinished = None;
                        told_unfinished = false;
                    }
                }
                if oversized {
                    self.fault(&format!("a line over {MAX_LINE_BYTES} bytes was discarded"));
                } else {
                    self.handle(&line);
                }
                oversized = false;
                line.clear();
                if line.capacity() > 1 << 20 {
                    line.shrink_to(64 * 1024);
                }
            }
        }
    }

    fn handle(&self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            self.stray(&String::from_utf8_lossy(line), "not UTF-8");
            return self.fault("a line is not UTF-8");
        };
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return;
        }
        match Message::decode(text) {
            Ok(Message::Response(response)) => self.answer(response),
            Ok(Message::Notification(notification)) => self
                .services
                .notification(&notification.method, notification.params),
            Ok(Message::Request(request)) => {
                // A plugin that sends requests faster than the host answers them is told to wait,
                // instead of growing the host's tasks without end.
                let Ok(permit) = self.host_requests.clone().try_acquire_owned() else {
                    let reply = Response::error(
                        request.id,
                        ErrorObject::new(
                            plugboard_protocol::error::HOST_ERROR,
                            format!("the plugin has {MAX_HOST_REQUESTS_IN_FLIGHT} requests to the host in flight; wait for their answers before sending more"),
                        ),
                    );
                    self.outgoing.push(Message::Response(reply).encode());
                    return;
                };
                let services = self.services.clone();
                let outgoing = self.outgoing.clone();
                // The answer counts against the outgoing queue from now on, before it exists.
                outgoing.add(HOST_ANSWER_RESERVE);
                tokio::spawn(async move {
                    let _permit = permit;
                    let response = match services.request(&request.method, request.params).await {
                        Ok(result) => Response::ok(request.id, result),
                        Err(error) => Response::error(request.id, error),
                    };
                    outgoing
                        .push_reserved(Message::Response(response).encode(), HOST_ANSWER_RESERVE);
                });
            }
            Err(error) => {
                let shown: String = text.chars().take(120).collect();
                self.fault(&format!("{error}: {shown:?}"));
                self.stray(text, &error.reason);
                let Some(id) = error.id else { return };
                let is_request = serde_json::from_str::<Value>(text)
                    .is_ok_and(|value| value.get("method").is_some());
                if is_request {
                    let reply = Response::error(
                        id,
                        ErrorObject::new(plugboard_protocol::error::INVALID_REQUEST, error.reason),
                    );
                    self.outgoing.push(Message::Response(reply).encode());
                } else if let Id::Number(number) = id {
                    // A broken answer to a request of ours: its caller learns now, not at its timeout.
                    if let Some(waiter) = lock(&self.pending).remove(&number) {
                        let broken = ErrorObject::new(
                            plugboard_protocol::error::INTERNAL_ERROR,
                            format!("the plugin's answer is malformed: {}", error.reason),
                        );
                        let _ = waiter.send(Err(RpcError::Remote(broken)));
                    }
                }
            }
        }
    }

    fn answer(&self, response: Response) {
        let Id::Number(id) = response.id else {
            return self.fault(&format!(
                "an answer to request {} that the host never sent",
                response.id
            ));
        };
        let Some(waiter) = lock(&self.pending).remove(&id) else {
            return self.fault(&format!(
                "an answer to request {id} that is not waiting (late or duplicate)"
            ));
        };
        let outcome = match (response.result, response.error) {
            (_, Some(error)) => Err(RpcError::Remote(error)),
            (Some(result), None) => Ok(result),
            (None, None) => Ok(Value::Null),
        };
        let _ = waiter.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    struct Recorder {
        notes: Mutex<Vec<(String, Option<Value>)>>,
    }

    #[async_trait]
    impl HostServices for Recorder {
        async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ErrorObject> {
            match method {
                "kv/get" => Ok(json!({"value": params.and_then(|p| p.get("key").cloned())})),
                other => Err(ErrorObject::new(
                    plugboard_protocol::error::METHOD_NOT_FOUND,
                    format!("no method {other}"),
                )),
            }
        }
        fn notification(&self, method: &str, params: Option<Value>) {
            self.notes.lock().unwrap().push((method.to_owned(), params));
        }
    }

    /// A fake plugin on the other end of in-memory pipes.
    fn connect() -> (
        RpcClient,
        Arc<Recorder>,
        tokio::io::DuplexStream,
        tokio::io::DuplexStream,
    ) {
        let (host_reads, plugin_writes) = tokio::io::duplex(1 << 16);
        let (plugin_reads, host_writes) = tokio::io::duplex(1 << 16);
        let recorder = Arc::new(Recorder {
            notes: Mutex::new(Vec::new()),
        });
        let client = RpcClient::start("test".into(), host_reads, host_writes, recorder.clone());
        (client, recorder, plugin_reads, plugin_writes)
    }

    #[tokio::test]
    async fn calls_are_matched_by_id_even_out_of_order() {
        let (client, _recorder, plugin_reads, mut plugin_writes) = connect();
        let first = tokio::spawn({
            let client = client.clone();
            async move { client.call("ping", json!({}), Duration::from_secs(5)).await }
        });
        let second = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .call("run", json!({"n": 2}), Duration::from_secs(5))
                    .await
            }
        });
        let mut lines = tokio::io::BufReader::new(plugin_reads).lines();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let line = lines.next_line().await.unwrap().unwrap();
            let Message::Request(request) = Message::decode(&line).unwrap() else {
                panic!("a request")
            };
            ids.push((request.id, request.method));
        }
        for (id, method) in ids.into_iter().rev() {
            let answer = Message::Response(Response::ok(id, json!({"method": method}))).encode();
            plugin_writes
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .unwrap();
        }
        assert_eq!(first.await.unwrap().unwrap(), json!({"method": "ping"}));
        assert_eq!(second.await.unwrap().unwrap(), json!({"method": "run"}));
    }

    #[tokio::test]
    async fn garbage_and_oversized_lines_are_faults_not_crashes() {
        let (client, recorder, _plugin_reads, mut plugin_writes) = connect();
        plugin_writes
            .write_all(b"hello, I am not JSON\n{\"jsonrpc\":\"1.0\"}\n\xff\xfe\n")
            .await
            .unwrap();
        let big = vec![b'x'; MAX_LINE_BYTES + 10];
        let writer = tokio::spawn(async move {
            plugin_writes.write_all(&big).await.unwrap();
            plugin_writes.write_all(b"\n{\"jsonrpc\":\"2.0\",\"method\":\"log\",\"params\":{\"level\":\"info\",\"message\":\"still here\"}}\n").await.unwrap();
            plugin_writes
        });
        let _plugin_writes = writer.await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while recorder.notes.lock().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the connection survived the garbage"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(client.faults(), 4);
        assert_eq!(recorder.notes.lock().unwrap()[0].0, "log");
    }

    #[tokio::test]
    async fn plugin_requests_are_answered_and_closing_fails_pending_calls() {
        let (client, _recorder, plugin_reads, mut plugin_writes) = connect();
        plugin_writes.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"kv/get\",\"params\":{\"key\":\"k\"}}\n").await.unwrap();
        let mut lines = tokio::io::BufReader::new(plugin_reads).lines();
        let answer = lines.next_line().await.unwrap().unwrap();
        assert_eq!(
            Message::decode(&answer).unwrap(),
            Message::Response(Response::ok(Id::String("a".into()), json!({"value": "k"})))
        );
        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.call("run", json!({}), Duration::from_secs(30)).await }
        });
        lines.next_line().await.unwrap().unwrap();
        drop(plugin_writes);
        assert!(matches!(waiting.await.unwrap(), Err(RpcError::Closed(_))));
        assert_eq!(client.closed().await, "the plugin closed its stdout");
        assert!(matches!(
            client.call("ping", json!({}), Duration::from_secs(1)).await,
            Err(RpcError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn a_malformed_answer_fails_its_call_at_once() {
        let (client, _recorder, plugin_reads, mut plugin_writes) = connect();
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.call("run", json!({}), Duration::from_secs(60)).await }
        });
        let mut lines = tokio::io::BufReader::new(plugin_reads).lines();
        let line = lines.next_line().await.unwrap().unwrap();
        let Message::Request(request) = Message::decode(&line).unwrap() else {
            panic!("a request")
        };
        let Id::Number(id) = request.id else {
            panic!("a numeric id")
        };
        plugin_writes
            .write_all(format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":1,\"error\":{{\"code\":1,\"message\":\"x\"}}}}\n").as_bytes())
            .await
            .unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("answered at once")
            .unwrap();
        assert!(
            matches!(outcome, Err(RpcError::Remote(ref error)) if error.message.contains("malformed")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_plugin_that_does_not_read_is_held_to_the_byte_limit_and_cut_off() {
        let (host_reads, mut plugin_writes) = tokio::io::duplex(1 << 16);
        let (_plugin_reads, host_writes) = tokio::io::duplex(1 << 16);
        let recorder = Arc::new(Recorder {
            notes: Mutex::new(Vec::new()),
        });
        let limits = ConnectionLimits {
            outgoing_bytes: 4 * 1024 * 1024,
            // Long enough for the queue to fill first on a loaded machine.
            write_stall: Duration::from_secs(2),
        };
        let client = RpcClient::start_with(
            host_reads,
            host_writes,
            ConnectionParams {
                label: "test".into(),
                services: recorder,
                ids: Arc::new(AtomicI64::new(1)),
                limits,
            },
        );
        // 500 answers of 100 KB each: 50 MB if the host queued them all.
        let key = "k".repeat(100 * 1024);
        let flood = tokio::spawn(async move {
            for id in 0..500 {
                let request = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"kv/get\",\"params\":{{\"key\":\"{key}\"}}}}\n");
                if plugin_writes.write_all(request.as_bytes()).await.is_err() {
                    return id;
                }
            }
            500
        });
        let reason = tokio::time::timeout(Duration::from_secs(30), client.closed())
            .await
            .expect("a plugin that does not read is cut off");
        assert!(client.stalled(), "{reason}");
        assert!(reason.contains("stopped reading its stdin"), "{reason}");
        let cap = limits.outgoing_bytes + HOST_ANSWER_RESERVE + 128 * 1024;
        assert!(
            client.peak_queued_bytes() <= cap,
            "{} bytes queued, over {cap}",
            client.peak_queued_bytes()
        );
        assert!(client.peak_queued_bytes() >= limits.outgoing_bytes);
        // The host stopped reading while the queue was full: most requests were never read.
        flood.abort();
        assert!(matches!(
            client.call("ping", json!({}), Duration::from_secs(1)).await,
            Err(RpcError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn a_call_without_answer_times_out() {
        let (client, _recorder, _plugin_reads, _plugin_writes) = connect();
        let outcome = client
            .call("ping", json!({}), Duration::from_millis(50))
            .await;
        assert!(matches!(outcome, Err(RpcError::Timeout { .. })));
        assert_eq!(client.in_flight(), 0);
    }
}
