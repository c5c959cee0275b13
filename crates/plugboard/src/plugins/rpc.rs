//! The host's end of one plugin connection: JSON-RPC 2.0 over the plugin's stdin and stdout,
//! one message per line, requests in both directions, several in flight, answers matched by id.
//!
//! Whatever the plugin writes, the host keeps running: a line that is not a message, a line over
//! [`MAX_LINE_BYTES`] (read and thrown away in pieces, never held whole), an answer to a request
//! nobody made — each is a protocol fault, counted and logged, and the connection goes on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::{
    ErrorObject, Id, Message, Notification, Request, Response, MAX_LINE_BYTES,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

/// What the plugin may ask of the host (`kv/*`, `emit`) and tell it (`log`, `progress`).
#[async_trait]
pub trait HostServices: Send + Sync + 'static {
    /// Answers a request from the plugin.
    async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ErrorObject>;

    /// Takes a notification from the plugin.
    fn notification(&self, method: &str, params: Option<Value>);
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
}

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Result<Value, RpcError>>>>>;

/// A live connection. Cheap to clone; every clone talks to the same plugin.
#[derive(Clone)]
pub struct RpcClient {
    outgoing: mpsc::UnboundedSender<String>,
    close: tokio_util::sync::CancellationToken,
    pending: Pending,
    next_id: Arc<AtomicI64>,
    faults: Arc<AtomicU64>,
    closed: watch::Receiver<Option<String>>,
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
        let ids = Arc::new(AtomicI64::new(1));
        RpcClient::start_with_ids(label, from_plugin, to_plugin, services, ids)
    }

    /// As [`RpcClient::start`], drawing request ids from `ids`: connections that share it never
    /// reuse each other's ids, so host services can tell their requests apart by id alone.
    pub fn start_with_ids<R, W>(
        label: String,
        from_plugin: R,
        to_plugin: W,
        services: Arc<dyn HostServices>,
        ids: Arc<AtomicI64>,
    ) -> RpcClient
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (outgoing, lines) = mpsc::unbounded_channel();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let faults = Arc::new(AtomicU64::new(0));
        let (closed_sender, closed) = watch::channel(None);
        let close = tokio_util::sync::CancellationToken::new();
        let client = RpcClient {
            outgoing,
            close: close.clone(),
            pending: pending.clone(),
            next_id: ids,
            faults: faults.clone(),
            closed,
        };
        tokio::spawn(write_loop(to_plugin, lines, close));
        let reader = Reader {
            label,
            pending,
            faults,
            services,
            replies: client.outgoing.clone(),
            host_requests: Arc::new(tokio::sync::Semaphore::new(MAX_HOST_REQUESTS_IN_FLIGHT)),
        };
        tokio::spawn(async move {
            let reason = reader.run(from_plugin).await;
            for (_, waiter) in lock(&reader.pending).drain() {
                let _ = waiter.send(Err(RpcError::Closed(reason.clone())));
            }
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
        lock(&self.pending).insert(id, sender);
        let line = Message::Request(Request::new(Id::Number(id), method, params)).encode();
        if self.outgoing.send(line).is_err() {
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
        let _ = self.outgoing.send(line);
    }

    /// Requests waiting for an answer.
    pub fn in_flight(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Protocol faults seen so far (lines that were not messages, unknown answers, …).
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
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
) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    loop {
        let line = tokio::select! {
            line = lines.recv() => match line {
                Some(line) => line,
                None => break,
            },
            () = close.cancelled() => break,
        };
        buffer.clear();
        buffer.extend_from_slice(line.as_bytes());
        buffer.push(b'\n');
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
        if to_plugin.write_all(&buffer).await.is_err() || to_plugin.flush().await.is_err() {
            return;
        }
    }
    // Closing stdin tells the plugin to exit.
    let _ = to_plugin.shutdown().await;
    drop(to_plugin);
}

struct Reader {
    label: String,
    pending: Pending,
    faults: Arc<AtomicU64>,
    services: Arc<dyn HostServices>,
    replies: mpsc::UnboundedSender<String>,
    /// Requests from the plugin being answered now; see [`MAX_HOST_REQUESTS_IN_FLIGHT`].
    host_requests: Arc<tokio::sync::Semaphore>,
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

    /// Reads until the plugin closes stdout; returns why the connection ended.
    async fn run<R: AsyncRead + Unpin>(&self, from_plugin: R) -> String {
        let mut reader = BufReader::with_capacity(64 * 1024, from_plugin);
        let mut line: Vec<u8> = Vec::new();
        let mut oversized = false;
        loop {
            let available = match reader.fill_buf().await {
                Ok(available) => available,
                Err(error) => return format!("reading the plugin's stdout failed: {error}"),
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
            if complete.is_some() {
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
                    let _ = self.replies.send(Message::Response(reply).encode());
                    return;
                };
                let services = self.services.clone();
                let replies = self.replies.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let response = match services.request(&request.method, request.params).await {
                        Ok(result) => Response::ok(request.id, result),
                        Err(error) => Response::error(request.id, error),
                    };
                    let _ = replies.send(Message::Response(response).encode());
                });
            }
            Err(error) => {
                let shown: String = text.chars().take(120).collect();
                self.fault(&format!("{error}: {shown:?}"));
                let Some(id) = error.id else { return };
                let is_request = serde_json::from_str::<Value>(text)
                    .is_ok_and(|value| value.get("method").is_some());
                if is_request {
                    let reply = Response::error(
                        id,
                        ErrorObject::new(plugboard_protocol::error::INVALID_REQUEST, error.reason),
                    );
                    let _ = self.replies.send(Message::Response(reply).encode());
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
    async fn a_call_without_answer_times_out() {
        let (client, _recorder, _plugin_reads, _plugin_writes) = connect();
        let outcome = client
            .call("ping", json!({}), Duration::from_millis(50))
            .await;
        assert!(matches!(outcome, Err(RpcError::Timeout { .. })));
        assert_eq!(client.in_flight(), 0);
    }
}
