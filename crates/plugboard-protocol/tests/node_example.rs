//! The Node.js example plugin (`examples/plugins/hello-node`), driven without the host: this
//! test plays the host over the plugin's stdin and stdout, answers its `kv/*` requests from a
//! map, and checks every message against the protocol's types.
//!
//! Needs `node` on `PATH`; without it the test says so loudly and passes. The child is killed
//! and reaped on every path, panics included ([`FakeHost`]'s `Drop`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use plugboard_protocol::error::{CANCELLED, INVALID_PARAMS, METHOD_NOT_FOUND};
use plugboard_protocol::methods::{
    self, ConfigValidateResult, InitializeResult, KvGetResult, KvKeyParams, KvSetParams, LogParams,
    ProgressParams, RunResult, ToolsCallResult,
};
use plugboard_protocol::{
    ErrorObject, Id, Manifest, Message, Notification, Request, Response, PROTOCOL_VERSION,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// How long to wait for any one message before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/hello-node")
}

/// What the plugin sent while the host waited for one answer.
#[derive(Default)]
struct Exchange {
    notifications: Vec<Notification>,
    requests: Vec<Request>,
}

impl Exchange {
    fn logs(&self) -> Vec<LogParams> {
        self.params_of(methods::LOG)
    }

    fn progress(&self) -> Vec<ProgressParams> {
        self.params_of(methods::PROGRESS)
    }

    fn params_of<T: DeserializeOwned>(&self, method: &str) -> Vec<T> {
        self.notifications
            .iter()
            .filter(|n| n.method == method)
            .map(|n| typed(n.params.clone().unwrap_or(Value::Null)))
            .collect()
    }
}

/// The host's side of one plugin process.
struct FakeHost {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: i64,
    /// The kv store, by (tenant, key).
    kv: HashMap<(Option<String>, String), Value>,
    reaped: bool,
}

impl FakeHost {
    fn start(program: &str) -> FakeHost {
        // As the host will: the package folder as working directory and a cleared environment.
        let data_dir = std::env::temp_dir().join(format!("hello-node-{}", std::process::id()));
        let mut child = Command::new(program)
            .arg("main.js")
            .current_dir(example_dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &data_dir)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start `{program} main.js`: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        // The plugin's log, shown with the test's output when it fails.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[hello-node stderr] {line}");
            }
        });
        FakeHost {
            stdin: child.stdin.take(),
            child,
            lines,
            next_id: 1,
            kv: HashMap::new(),
            reaped: false,
        }
    }

    fn send(&mut self, message: &Message) {
        self.send_line(&message.encode());
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .expect("the plugin reads its stdin");
    }

    /// Sends a request and returns its id.
    fn request(&mut self, method: &str, params: Value) -> Id {
        let id = Id::Number(self.next_id);
        self.next_id += 1;
        self.send(&Message::Request(Request::new(id.clone(), method, params)));
        id
    }

    /// The next message from the plugin, within [`DEADLINE`].
    fn receive(&mut self) -> Option<Message> {
        let line = match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => panic!("no message from the plugin in {DEADLINE:?}"),
        };
        match Message::decode(&line) {
            Ok(message) => Some(message),
            Err(error) => panic!("the plugin wrote a line that is not a message ({error}): {line}"),
        }
    }

    /// Reads until the answer to `id`, answering the plugin's requests and keeping what it sent.
    fn answer_of(&mut self, id: &Id) -> (Response, Exchange) {
        let mut exchange = Exchange::default();
        loop {
            match self.receive() {
                None => panic!("the plugin closed its stdout before answering {id}"),
                Some(Message::Response(response)) if &response.id == id => {
                    return (response, exchange)
                }
                Some(Message::Response(response)) => panic!("an answer to {}", response.id),
                Some(Message::Notification(notification)) => {
                    exchange.notifications.push(notification)
                }
                Some(Message::Request(request)) => {
                    let response = self.serve(&request);
                    self.send(&Message::Response(response));
                    exchange.requests.push(request);
                }
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> (Value, Exchange) {
        let id = self.request(method, params);
        let (response, exchange) = self.answer_of(&id);
        match (response.result, response.error) {
            (Some(result), None) => (result, exchange),
            (_, error) => panic!("{method} failed: {error:?}"),
        }
    }

    fn call_error(&mut self, method: &str, params: Value) -> ErrorObject {
        let id = self.request(method, params);
        let (response, _) = self.answer_of(&id);
        response
            .error
            .unwrap_or_else(|| panic!("{method} succeeded: {:?}", response.result))
    }

    /// The host services: kv from the map; anything else is not found.
    fn serve(&mut self, request: &Request) -> Response {
        let params = request.params.clone().unwrap_or(Value::Null);
        let result = match request.method.as_str() {
            methods::KV_GET => {
                let KvKeyParams { tenant, key } = typed(params);
                let value = self.kv.get(&(tenant, key)).cloned();
                serde_json::to_value(KvGetResult { value }).expect("serialises")
            }
            methods::KV_SET => {
                let KvSetParams { tenant, key, value } = typed(params);
                self.kv.insert((tenant, key), value);
                json!({})
            }
            other => {
                return Response::error(
                    request.id.clone(),
                    ErrorObject::new(METHOD_NOT_FOUND, format!("no method {other}")),
                )
            }
        };
        Response::ok(request.id.clone(), result)
    }

    /// Closes the plugin's stdin and waits for it to exit, as the host does after `shutdown`.
    fn close_and_wait(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        // Its stdout closes when it exits; answer nothing more.
        while self.receive().is_some() {}
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited on") {
                self.reaped = true;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the plugin closed stdout but did not exit"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn typed<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|error| panic!("{value} is not a {}: {error}", std::any::type_name::<T>()))
}

fn run_params(job_id: i64, tenant: &str, payload: Value) -> Value {
    json!({
        "job": {"id": job_id, "attempt": 1, "maxAttempts": 3},
        "trigger": {"kind": "manual"},
        "tenant": tenant,
        "config": {"id": "cfg-1", "name": "default", "values": {"greeting": "Hi"}},
        "payload": payload,
    })
}

/// Runs a job and checks the logs and progress the plugin sent for it; returns the job's result.
fn run(host: &mut FakeHost, job_id: i64, tenant: &str) -> Value {
    let id = host.request(methods::RUN, run_params(job_id, tenant, json!({})));
    let (response, exchange) = host.answer_of(&id);
    let result: RunResult = typed(response.result.expect("the run succeeds"));
    let logs = exchange.logs();
    assert_eq!(logs.len(), 2, "two log lines per run");
    assert!(logs.iter().all(|log| log.request_id.as_ref() == Some(&id)));
    let progress = exchange.progress();
    assert!(!progress.is_empty(), "progress of the run");
    assert!(progress.iter().all(|p| p.request_id == id));
    let methods: Vec<&str> = exchange
        .requests
        .iter()
        .map(|r| r.method.as_str())
        .collect();
    assert_eq!(methods, [methods::KV_GET, methods::KV_SET]);
    result.result.expect("the run has a result")
}

fn node() -> Option<&'static str> {
    let found = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    found.then_some("node")
}

#[test]
fn hello_node_speaks_the_protocol() {
    let Some(node) = node() else {
        eprintln!(
            "\n*** SKIPPED hello_node_speaks_the_protocol: `node` is not on PATH; install \
             Node.js 18 or later to test examples/plugins/hello-node ***\n"
        );
        return;
    };
    let manifest_text = std::fs::read_to_string(example_dir().join("plugin.toml"))
        .expect("the example has a plugin.toml");
    let manifest = Manifest::parse(&manifest_text).expect("the example's manifest is valid");
    assert_eq!(manifest.command[0], "node");

    let mut host = FakeHost::start(node);

    // The handshake.
    let (result, _) = host.call(
        methods::INITIALIZE,
        json!({
            "protocolVersion": PROTOCOL_VERSION,
            "host": {"name": "plugboard", "version": "0.1.0"},
            "dataDir": std::env::temp_dir(),
        }),
    );
    let initialized: InitializeResult = typed(result);
    assert_eq!(initialized.protocol_version, PROTOCOL_VERSION);
    assert_eq!(initialized.plugin.id, manifest.id);
    assert_eq!(initialized.plugin.version, manifest.version);
    assert!(initialized.metadata.config_schema.is_some());
    let tools: Vec<&str> = initialized
        .metadata
        .tools
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(tools, ["greet"]);

    // Two runs count 1, then 2; another tenant has its own count.
    assert_eq!(run(&mut host, 1, "acme"), json!({"runs": 1}));
    assert_eq!(run(&mut host, 2, "acme"), json!({"runs": 2}));
    assert_eq!(run(&mut host, 3, "globex"), json!({"runs": 1}));
    assert_eq!(
        host.kv.get(&(Some("acme".to_owned()), "runs".to_owned())),
        Some(&json!(2))
    );

    // A cancel: the run waits until cancelled; once its first progress arrives it is in flight.
    let id = host.request(
        methods::RUN,
        run_params(4, "acme", json!({"waitMs": 600_000})),
    );
    loop {
        match host.receive() {
            Some(Message::Notification(note)) if note.method == methods::PROGRESS => {
                let progress: ProgressParams = typed(note.params.unwrap_or_default());
                assert_eq!(progress.request_id, id);
                break;
            }
            Some(Message::Notification(_)) => {}
            other => panic!("expected the run's progress, got {other:?}"),
        }
    }
    host.send(&Message::Notification(Notification::new(
        methods::CANCEL,
        json!({"requestId": id, "reason": "cancelled by the test"}),
    )));
    let (response, _) = host.answer_of(&id);
    let error = response
        .error
        .expect("a cancelled run answers with an error");
    assert_eq!(error.code, CANCELLED, "{error}");
    assert_eq!(
        host.kv.get(&(Some("acme".to_owned()), "runs".to_owned())),
        Some(&json!(2)),
        "a cancelled run does not count"
    );

    // config/validate, tools/call, ping, and what is not a method or not a message.
    let (result, _) = host.call(
        methods::CONFIG_VALIDATE,
        json!({"values": {"greeting": "Hi"}}),
    );
    assert!(typed::<ConfigValidateResult>(result).valid);
    let (result, _) = host.call(
        methods::CONFIG_VALIDATE,
        json!({"values": {"greeting": " "}}),
    );
    let invalid: ConfigValidateResult = typed(result);
    assert!(!invalid.valid);
    assert_eq!(invalid.errors[0].path, "/greeting");
    let (result, _) = host.call(
        methods::TOOLS_CALL,
        json!({"name": "greet", "arguments": {"name": "Ada"}}),
    );
    let greeted: ToolsCallResult = typed(result);
    assert!(!greeted.is_error);
    assert_eq!(greeted.content[0].text, "Hello, Ada!");
    let error = host.call_error(
        methods::TOOLS_CALL,
        json!({"name": "shout", "arguments": {}}),
    );
    assert_eq!(error.code, INVALID_PARAMS);
    let error = host.call_error("no/such/method", json!({}));
    assert_eq!(error.code, METHOD_NOT_FOUND);
    assert!(error.message.contains("no/such/method"), "{error}");
    let error = host.call_error(methods::CONFIG_TEST, json!({"values": {}}));
    assert_eq!(error.code, METHOD_NOT_FOUND);
    host.send_line("this is not JSON");
    host.send_line("");
    let (result, _) = host.call(methods::PING, json!({}));
    assert_eq!(result, json!({}));

    // Shutdown: answer `{}`, then exit 0 once stdin closes.
    let (result, _) = host.call(methods::SHUTDOWN, json!({}));
    assert_eq!(result, json!({}));
    let status = host.close_and_wait();
    assert!(status.success(), "the plugin exited with {status}");
}
