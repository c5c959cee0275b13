//! [`TestHost`]: the host's end of a plugin served by `serve_with` over in-memory pipes.
//! Every wait has a deadline; nothing sleeps.

use std::collections::VecDeque;
use std::time::Duration;

use plugboard_sdk::protocol::{Message, Notification, Request, Response};
use plugboard_sdk::{serve_with, Plugin, ServeError, PROTOCOL_VERSION};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

/// How long any one wait may take before the test fails. Longer than `SHUTDOWN_GRACE`, so that
/// with the clock paused the plugin's grace period runs out first.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The host's end of one plugin connection.
pub struct TestHost {
    to_plugin: Option<DuplexStream>,
    from_plugin: BufReader<DuplexStream>,
    serve: JoinHandle<Result<(), ServeError>>,
    next_id: i64,
    /// Messages read while waiting for something else, oldest first.
    unread: VecDeque<Message>,
}

impl TestHost {
    /// Serves `plugin` on a task of its own.
    pub fn start(plugin: impl Plugin) -> TestHost {
        let (to_plugin, plugin_input) = tokio::io::duplex(64 * 1024);
        let (plugin_output, from_plugin) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(serve_with(plugin, plugin_input, plugin_output));
        TestHost {
            to_plugin: Some(to_plugin),
            from_plugin: BufReader::new(from_plugin),
            serve,
            next_id: 1,
            unread: VecDeque::new(),
        }
    }

    /// Serves `plugin` and completes the handshake.
    pub async fn initialized(plugin: impl Plugin) -> TestHost {
        let mut host = TestHost::start(plugin);
        let id = host
            .request("initialize", initialize_params(PROTOCOL_VERSION))
            .await;
        let response = host.response(id).await;
        assert!(response.error.is_none(), "initialize failed: {response:?}");
        host
    }

    /// Writes raw bytes to the plugin's input.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let to_plugin = self.to_plugin.as_mut().expect("the input is still open");
        tokio::time::timeout(DEADLINE, to_plugin.write_all(bytes))
            .await
            .expect("the plugin reads its input in time")
            .expect("the pipe to the plugin is open");
    }

    /// Writes one message as a line.
    pub async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.send_raw(line.as_bytes()).await;
    }

    /// Sends a request with the next id and returns the id.
    pub async fn request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        id
    }

    /// Sends a `run` whose payload tells the scripted plugin what to do.
    pub async fn run(&mut self, action: &str, tenant: Option<&str>) -> i64 {
        let mut params = run_params(json!({"action": action}));
        if let Some(tenant) = tenant {
            params["tenant"] = json!(tenant);
        }
        self.request("run", params).await
    }

    /// Answers the plugin's request `id`.
    pub async fn answer(&mut self, id: &plugboard_sdk::Id, result: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}))
            .await;
    }

    /// The next message, unread ones first.
    pub async fn next_message(&mut self) -> Message {
        if let Some(message) = self.unread.pop_front() {
            return message;
        }
        self.read_message().await
    }

    /// The next message that is a request from the plugin; notifications before it are kept.
    pub async fn next_plugin_request(&mut self) -> Request {
        let found = self
            .wait_for(|message| matches!(message, Message::Request(_)))
            .await;
        let Message::Request(request) = found else {
            unreachable!("wait_for matched a request")
        };
        request
    }

    /// The response to request `id`; other messages before it are kept.
    pub async fn response(&mut self, id: i64) -> Response {
        let found = self
            .wait_for(|message| {
                matches!(message, Message::Response(response) if response.id == plugboard_sdk::Id::Number(id))
            })
            .await;
        let Message::Response(response) = found else {
            unreachable!("wait_for matched a response")
        };
        response
    }

    /// The error code of the response to request `id`, failing if it succeeded.
    pub async fn error_code(&mut self, id: i64) -> i64 {
        let response = self.response(id).await;
        response
            .error
            .unwrap_or_else(|| panic!("request {id} succeeded: {:?}", response.result))
            .code
    }

    /// The next notification of `method`; other messages before it are kept.
    pub async fn notification(&mut self, method: &str) -> Notification {
        let found = self
            .wait_for(|message| matches!(message, Message::Notification(n) if n.method == method))
            .await;
        let Message::Notification(notification) = found else {
            unreachable!("wait_for matched a notification")
        };
        notification
    }

    /// The messages read but not yet asked for.
    pub fn unread(&self) -> &VecDeque<Message> {
        &self.unread
    }

    /// Closes the plugin's input (end of file).
    pub fn close_input(&mut self) {
        self.to_plugin = None;
    }

    /// Waits for `serve_with` to return.
    pub async fn finished(self) -> Result<(), ServeError> {
        tokio::time::timeout(DEADLINE, self.serve)
            .await
            .expect("serve returns in time")
            .expect("serve does not panic")
    }

    async fn wait_for(&mut self, wanted: impl Fn(&Message) -> bool) -> Message {
        if let Some(at) = self.unread.iter().position(&wanted) {
            return self.unread.remove(at).expect("the position is in range");
        }
        loop {
            let message = self.read_message().await;
            if wanted(&message) {
                return message;
            }
            self.unread.push_back(message);
        }
    }

    async fn read_message(&mut self) -> Message {
        let mut line = String::new();
        let read = tokio::time::timeout(DEADLINE, self.from_plugin.read_line(&mut line))
            .await
            .expect("the plugin writes in time")
            .expect("the pipe from the plugin is readable");
        assert!(
            read > 0,
            "the plugin closed its output; unread: {:?}",
            self.unread
        );
        let line = line
            .strip_suffix('\n')
            .expect("every line ends with a newline");
        Message::decode(line).unwrap_or_else(|error| panic!("the plugin wrote {line:?}: {error}"))
    }
}

/// Params of `initialize` offering `protocol_version`.
pub fn initialize_params(protocol_version: u32) -> Value {
    json!({
        "protocolVersion": protocol_version,
        "host": {"name": "plugboard", "version": "0.1.0"},
        "dataDir": "/tmp/plugboard-sdk-test/data",
    })
}

/// Params of a manual `run` with `payload`.
pub fn run_params(payload: Value) -> Value {
    json!({
        "job": {"id": 7301, "attempt": 1, "maxAttempts": 3},
        "trigger": {"kind": "manual"},
        "payload": payload,
    })
}
