//! The built `hello-rust` binary, driven over its real stdin and stdout as the host drives it:
//! this is the SDK's stdio path (the SDK's own tests use in-memory pipes).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use plugboard_sdk::protocol::{Message, Notification, Request, Response};
use plugboard_sdk::Id;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(10);

struct Plugin {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Plugin {
    fn start() -> Plugin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hello-rust"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the plugin starts");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Plugin {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, message: Value) {
        writeln!(self.stdin, "{message}").expect("the plugin reads stdin");
        self.stdin.flush().expect("the plugin reads stdin");
    }

    fn request(&mut self, id: i64, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }

    fn next(&mut self) -> Message {
        let line = self
            .lines
            .recv_timeout(DEADLINE)
            .expect("the plugin writes a line in time");
        Message::decode(&line).unwrap_or_else(|error| panic!("the plugin wrote {line:?}: {error}"))
    }

    fn response(&mut self, id: i64) -> Response {
        match self.next() {
            Message::Response(response) if response.id == Id::Number(id) => response,
            other => panic!("expected the answer to {id}, got {other:?}"),
        }
    }

    fn plugin_request(&mut self, method: &str) -> Request {
        match self.next() {
            Message::Request(request) if request.method == method => request,
            other => panic!("expected a {method} request, got {other:?}"),
        }
    }

    fn notification(&mut self, method: &str) -> Notification {
        match self.next() {
            Message::Notification(notification) if notification.method == method => notification,
            other => panic!("expected a {method} notification, got {other:?}"),
        }
    }
}

fn run_params(values: Value) -> Value {
    json!({
        "job": {"id": 1, "attempt": 1, "maxAttempts": 3},
        "trigger": {"kind": "manual"},
        "tenant": "acme",
        "config": {"id": "cfg_1", "name": "default", "values": values},
    })
}

#[test]
fn greets_counts_and_shuts_down_over_stdio() {
    let mut plugin = Plugin::start();
    plugin.request(
        1,
        "initialize",
        json!({"protocolVersion": 1, "host": {"name": "plugboard", "version": "0.1.0"}, "dataDir": "/tmp"}),
    );
    let result = plugin.response(1).result.expect("initialize succeeds");
    assert_eq!(result["plugin"]["id"], "hello-rust");
    assert_eq!(
        result["metadata"]["configSchema"]["properties"]["name"]["maxLength"],
        100
    );

    plugin.request(2, "ping", json!({}));
    assert_eq!(plugin.response(2).result, Some(json!({})));

    plugin.request(3, "run", run_params(json!({"name": "Ada"})));
    let progress = plugin.notification("progress");
    assert_eq!(progress.params.expect("params")["requestId"], 3);
    let get = plugin.plugin_request("kv/get");
    assert_eq!(
        get.params,
        Some(json!({"tenant": "acme", "key": "greetings"}))
    );
    plugin.send(json!({"jsonrpc": "2.0", "id": get.id, "result": {"value": 2}}));
    let set = plugin.plugin_request("kv/set");
    assert_eq!(
        set.params,
        Some(json!({"tenant": "acme", "key": "greetings", "value": 3}))
    );
    plugin.send(json!({"jsonrpc": "2.0", "id": set.id, "result": {}}));
    let log = plugin.notification("log");
    assert_eq!(
        log.params.expect("params")["message"],
        "hello, Ada (greeting 3 for this tenant)"
    );
    plugin.notification("progress");
    assert_eq!(
        plugin.response(3).result,
        Some(json!({"result": {"greeting": "hello, Ada"}}))
    );

    plugin.request(4, "run", run_params(json!({"name": "  "})));
    let error = plugin.response(4).error.expect("a blank name fails");
    assert_eq!(error.code, plugboard_sdk::error::NOT_RETRYABLE);

    plugin.request(
        5,
        "tools/call",
        json!({"name": "greet", "arguments": {"name": "Bob"}}),
    );
    assert_eq!(
        plugin.response(5).result,
        Some(json!({"content": [{"type": "text", "text": "hello, Bob"}], "isError": false}))
    );

    // {"greeting":"hello, Ada"} and {"error":"`name` must not be empty; …"}, base64.
    plugin.request(
        7,
        "http",
        json!({"method": "GET", "path": "/greeting/Ada", "route": "/greeting/{name}", "params": {"name": "Ada"}}),
    );
    let answer = plugin.response(7).result.expect("an HTTP answer");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["headers"]["content-type"], "application/json");
    assert_eq!(answer["body"], "eyJncmVldGluZyI6ImhlbGxvLCBBZGEifQ==");
    plugin.request(
        8,
        "http",
        json!({"method": "GET", "path": "/greeting/%20", "route": "/greeting/{name}", "params": {"name": " "}}),
    );
    assert_eq!(
        plugin.response(8).result.expect("an HTTP answer")["status"],
        400
    );

    plugin.request(6, "shutdown", json!({}));
    assert_eq!(plugin.response(6).result, Some(json!({})));
    let (sender, exited) = mpsc::channel();
    let mut child = plugin.child;
    std::thread::spawn(move || {
        let _ = sender.send(child.wait());
    });
    let status = exited
        .recv_timeout(DEADLINE)
        .expect("the plugin exits after shutdown")
        .expect("the plugin can be waited for");
    assert!(status.success(), "{status}");
}
