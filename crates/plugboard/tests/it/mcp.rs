//! plugboard as an MCP server, driven by the official clients: the Python SDK (`mcp`, protocol
//! 2026-07-28 by default and 2025-11-25 with `mode="legacy"`) and the TypeScript SDK
//! (protocol 2025-11-25), installed from PyPI and npm by `harness/mcp_clients.rs`, against the
//! real binary with the scripted plugin installed. HTTP-level refusals (401, 403, 405, Origin)
//! are checked with plain HTTP, since a client hides its status lines and headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::cli::Cli;
use crate::harness::mcp_clients::mcp_clients;
use crate::harness::packages::{plugin_command, printed, scripted_package};
use crate::harness::{temp_dir, TestHost, FAST_LEASES};

/// A server with the scripted plugin installed and its tools listed.
struct McpHost {
    host: TestHost,
    cli: Cli,
    url: String,
    data: tempfile::TempDir,
    _work: tempfile::TempDir,
}

impl McpHost {
    fn start() -> McpHost {
        let data = temp_dir();
        let work = temp_dir();
        // Plugin users read the package folder.
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))
            .expect("the package folder is made readable");
        let host = TestHost::start(data.path(), FAST_LEASES);
        let folder = scripted_package(work.path(), "1.0.0", "ok");
        let installed = plugin_command(data.path(), &["install", folder.to_str().unwrap()]);
        assert!(
            installed.status.success(),
            "install: {}",
            printed(&installed)
        );
        let cli = Cli::new(&host);
        let url = format!("http://{}/mcp", host.address);
        let started = McpHost {
            host,
            cli,
            url,
            data,
            _work: work,
        };
        started.wait_for_metadata();
        started
    }

    /// Waits until the store caches the plugin's tools (the catalogue reads them there).
    fn wait_for_metadata(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = self.host.get("/api/v1/plugins/scripted");
            if body.contains("\"sleep\"") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the scripted plugin's tools were never cached: {body}\n{}",
                self.host.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn token(&self, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", name];
        args.extend_from_slice(extra);
        self.cli
            .run(&args)
            .expect_ok("token create")
            .trim()
            .to_owned()
    }

    /// A raw HTTP request to the server; answers (status, headers lowercased, body).
    fn http(&self, request: &str) -> (u16, String, String) {
        let mut stream =
            std::net::TcpStream::connect(&self.host.address).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("a response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    /// A modern-era POST of `body` with `headers` (each `Name: value\r\n`).
    fn post(&self, token: Option<&str>, headers: &str, body: &str) -> (u16, String, String) {
        let authorization = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        self.http(&format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\n{authorization}{headers}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.host.address,
            body.len()
        ))
    }
}

/// The one JSON line a client printed; panics with everything it wrote when there is none.
fn answer(output: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "{what}: the client printed no JSON ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

fn ok(output: Output, what: &str) -> Value {
    let value = answer(&output, what);
    assert!(
        value.get("error").is_none(),
        "{what}: {value}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn names(listed: &Value) -> Vec<String> {
    listed["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|tool| tool["name"].as_str().expect("a name").to_owned())
        .collect()
}

fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|block| block["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

const HOST_TOOLS: [&str; 7] = [
    "cancel_job",
    "list_jobs",
    "list_plugins",
    "post_event",
    "read_job_log",
    "run_config",
    "show_job",
];

#[test]
fn the_python_client_lists_and_calls_plugin_and_host_tools_in_both_eras() {
    let Some(clients) =
        mcp_clients("the_python_client_lists_and_calls_plugin_and_host_tools_in_both_eras")
    else {
        return;
    };
    let server = McpHost::start();
    let admin = &server.host.admin_token;
    for (mode, protocol) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let listed = ok(
            clients.python(&server.url, admin, mode, &["tools"]),
            "tools",
        );
        assert_eq!(listed["protocol"], protocol, "{listed}");
        let names = names(&listed);
        for expected in [
            "scripted.add",
            "scripted.echo",
            "scripted.fail",
            "scripted.sleep",
        ]
        .iter()
        .chain(HOST_TOOLS.iter())
        {
            assert!(names.contains(&expected.to_string()), "{mode}: {names:?}");
        }
        let add = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tool| tool["name"] == "scripted.add")
            .unwrap();
        assert_eq!(add["outputSchema"]["required"], json!(["sum"]), "{add}");
        assert_eq!(add["annotations"]["readOnlyHint"], true, "{add}");

        let echoed = ok(
            clients.python(
                &server.url,
                admin,
                mode,
                &["call", "scripted.echo", r#"{"text": "hi"}"#],
            ),
            "echo",
        );
        assert_eq!(echoed["protocol"], protocol);
        assert_eq!(text(&echoed["result"]), "hi", "{echoed}");
        assert_eq!(echoed["result"]["isError"], false, "{echoed}");

        let added = ok(
            clients.python(
                &server.url,
                admin,
                mode,
                &["call", "scripted.add", r#"{"a": 2, "b": 3}"#],
            ),
            "add",
        );
        assert_eq!(
            added["result"]["structuredContent"],
            json!({"sum": 5}),
            "{added}"
        );

        let failed = ok(
            clients.python(
                &server.url,
                admin,
                mode,
                &["call", "scripted.fail", r#"{"reason": "the disk is full"}"#],
            ),
            "fail",
        );
        assert_eq!(failed["result"]["isError"], true, "{failed}");
        assert_eq!(
            text(&failed["result"]),
            "the tool failed on purpose: the disk is full",
            "{failed}"
        );

        let invalid = answer(
            &clients.python(
                &server.url,
                admin,
                mode,
                &["call", "scripted.echo", r#"{"text": 7}"#],
            ),
            "invalid arguments",
        );
        assert!(
            invalid["message"].as_str().unwrap_or("").contains("/text"),
            "the refusal names the failing path: {invalid}"
        );

        let jobs = ok(
            clients.python(
                &server.url,
                admin,
                mode,
                &["call", "list_jobs", r#"{"kind": "plugin.tool"}"#],
            ),
            "list_jobs",
        );
        let listed_jobs = jobs["result"]["structuredContent"]["jobs"]
            .as_array()
            .expect("jobs")
            .clone();
        let echo_job = listed_jobs
            .iter()
            .find(|job| job["payload"]["tool"] == "echo" && job["status"] == "succeeded")
            .unwrap_or_else(|| panic!("the echo call is a job: {jobs}"));
        assert_eq!(echo_job["max_attempts"], 1, "{echo_job}");
        let failed_job = listed_jobs
            .iter()
            .find(|job| job["payload"]["tool"] == "fail")
            .unwrap_or_else(|| panic!("the failing call is a job: {jobs}"));
        assert_eq!(failed_job["status"], "failed", "{failed_job}");
        assert_eq!(
            failed_job["error"], "the tool failed on purpose: the disk is full",
            "{failed_job}"
        );
        let id = echo_job["id"].to_string();
        let log = ok(
            clients.python(
                &server.url,
                admin,
                mode,
                &["call", "read_job_log", &format!(r#"{{"id": {id}}}"#)],
            ),
            "read_job_log",
        );
        assert!(
            text(&log["result"]).contains("echo for None: hi"),
            "the plugin's log line of the call is in its job's log: {log}"
        );
    }
}

#[test]
fn a_tools_progress_reaches_the_client_in_both_eras() {
    let Some(clients) = mcp_clients("a_tools_progress_reaches_the_client_in_both_eras") else {
        return;
    };
    let server = McpHost::start();
    let admin = &server.host.admin_token;
    for mode in ["auto", "legacy"] {
        let called = ok(
            clients.python(
                &server.url,
                admin,
                mode,
                &["progress", "scripted.sleep", r#"{"ms": 1500}"#],
            ),
            "progress",
        );
        assert_eq!(text(&called["result"]), "slept 1500 ms", "{called}");
        let reports = called["progress"].as_array().expect("progress reports");
        assert!(!reports.is_empty(), "{mode}: no progress arrived: {called}");
        let values: Vec<f64> = reports
            .iter()
            .map(|report| report[0].as_f64().unwrap())
            .collect();
        assert!(
            values.windows(2).all(|pair| pair[0] < pair[1]),
            "{mode}: progress only grows: {values:?}"
        );
        assert_eq!(
            reports[0][1], 1500.0,
            "{mode}: the total is the plugin's: {called}"
        );
        assert!(
            reports[0][2].as_str().unwrap_or("").starts_with("slept "),
            "{mode}: the plugin's message: {called}"
        );
    }
}

#[test]
fn the_typescript_client_lists_and_calls_plugin_and_host_tools() {
    let Some(clients) = mcp_clients("the_typescript_client_lists_and_calls_plugin_and_host_tools")
    else {
        return;
    };
    let server = McpHost::start();
    let admin = &server.host.admin_token;
    let listed = ok(clients.node(&server.url, admin, &["tools"]), "tools");
    assert_eq!(listed["protocol"], "2025-11-25", "{listed}");
    let names = names(&listed);
    for expected in ["scripted.echo", "list_plugins", "show_job"] {
        assert!(names.contains(&expected.to_owned()), "{names:?}");
    }
    let echoed = ok(
        clients.node(
            &server.url,
            admin,
            &["call", "scripted.echo", r#"{"text": "from node"}"#],
        ),
        "echo",
    );
    assert_eq!(text(&echoed["result"]), "from node", "{echoed}");
    let added = ok(
        clients.node(
            &server.url,
            admin,
            &["call", "scripted.add", r#"{"a": 40, "b": 2}"#],
        ),
        "add",
    );
    assert_eq!(
        added["result"]["structuredContent"],
        json!({"sum": 42}),
        "{added}"
    );
    let failed = ok(
        clients.node(
            &server.url,
            admin,
            &["call", "scripted.fail", r#"{"reason": "no"}"#],
        ),
        "fail",
    );
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    assert_eq!(text(&failed["result"]), "the tool failed on purpose: no");
    let plugins = ok(
        clients.node(&server.url, admin, &["call", "list_plugins", "{}"]),
        "list_plugins",
    );
    assert_eq!(
        plugins["result"]["structuredContent"]["plugins"][0]["id"], "scripted",
        "{plugins}"
    );
}

#[test]
fn a_token_sees_its_tenants_tools_and_a_read_token_only_read_only_ones() {
    let Some(clients) =
        mcp_clients("a_token_sees_its_tenants_tools_and_a_read_token_only_read_only_ones")
    else {
        return;
    };
    let server = McpHost::start();
    for tenant in ["acme", "globex"] {
        server
            .cli
            .run(&["tenant", "create", tenant])
            .expect_ok("tenant create");
    }
    server
        .cli
        .run(&[
            "config", "set", "--tenant", "acme", "--plugin", "scripted", "--name", "main",
            "--values", "{}",
        ])
        .expect_ok("config set");
    let acme = server.token("acme", &["--tenant", "acme", "--access", "write"]);
    let globex = server.token("globex", &["--tenant", "globex", "--access", "write"]);
    let reader = server.token("reader", &["--access", "read"]);

    let acme_tools = names(&ok(
        clients.python(&server.url, &acme, "auto", &["tools"]),
        "acme tools",
    ));
    assert!(
        acme_tools.contains(&"scripted.echo".to_owned()),
        "{acme_tools:?}"
    );
    let globex_tools = names(&ok(
        clients.node(&server.url, &globex, &["tools"]),
        "globex tools",
    ));
    assert!(
        !globex_tools
            .iter()
            .any(|name| name.starts_with("scripted.")),
        "globex has no config of the scripted plugin: {globex_tools:?}"
    );
    assert!(
        globex_tools.contains(&"list_jobs".to_owned()),
        "{globex_tools:?}"
    );
    let refused = answer(
        &clients.python(
            &server.url,
            &globex,
            "auto",
            &["call", "scripted.echo", r#"{"text": "x"}"#],
        ),
        "globex calls acme's tool",
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("no tool `scripted.echo`"),
        "{refused}"
    );

    // A tenant's call is its tenant's job: the plugin hears the tenant, the other tenant
    // does not see the job.
    let echoed = ok(
        clients.python(
            &server.url,
            &acme,
            "legacy",
            &["call", "scripted.echo", r#"{"text": "a"}"#],
        ),
        "acme echo",
    );
    assert_eq!(text(&echoed["result"]), "a");
    let acme_jobs = ok(
        clients.python(
            &server.url,
            &acme,
            "auto",
            &["call", "list_jobs", r#"{"kind": "plugin.tool"}"#],
        ),
        "acme jobs",
    );
    let acme_job = &acme_jobs["result"]["structuredContent"]["jobs"][0];
    assert_eq!(acme_job["tenant"], "acme", "{acme_jobs}");
    let globex_jobs = ok(
        clients.python(
            &server.url,
            &globex,
            "auto",
            &["call", "list_jobs", r#"{"kind": "plugin.tool"}"#],
        ),
        "globex jobs",
    );
    assert_eq!(
        globex_jobs["result"]["structuredContent"]["jobs"],
        json!([]),
        "{globex_jobs}"
    );
    let hidden = ok(
        clients.python(
            &server.url,
            &globex,
            "auto",
            &[
                "call",
                "show_job",
                &format!(r#"{{"id": {}}}"#, acme_job["id"]),
            ],
        ),
        "globex shows acme's job",
    );
    assert_eq!(hidden["result"]["isError"], true, "{hidden}");

    let mut read_tools = names(&ok(
        clients.python(&server.url, &reader, "auto", &["tools"]),
        "reader tools",
    ));
    read_tools.sort();
    assert_eq!(
        read_tools,
        [
            "list_jobs",
            "list_plugins",
            "read_job_log",
            "scripted.add",
            "scripted.echo",
            "scripted.region",
            "scripted.sleep",
            "show_job"
        ],
        "a read token sees only read-only tools"
    );
    let read_legacy = names(&ok(
        clients.node(&server.url, &reader, &["tools"]),
        "reader tools, node",
    ));
    assert!(
        !read_legacy.contains(&"cancel_job".to_owned()),
        "{read_legacy:?}"
    );
    let echoed = ok(
        clients.python(
            &server.url,
            &reader,
            "auto",
            &["call", "scripted.echo", r#"{"text": "r"}"#],
        ),
        "reader echo",
    );
    assert_eq!(text(&echoed["result"]), "r");
    // A read token calling a tool that changes things: 403 with an insufficient_scope challenge.
    let (status, headers, body) = server.post(
        Some(&reader),
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: scripted.fail\r\n",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"scripted.fail","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#,
    );
    assert_eq!(status, 403, "{headers}{body}");
    assert!(
        headers.contains("www-authenticate: bearer resource_metadata="),
        "{headers}"
    );
    assert!(
        headers.contains("error=\"insufficient_scope\""),
        "{headers}"
    );
    let refused = answer(
        &clients.python(
            &server.url,
            &reader,
            "auto",
            &["call", "scripted.fail", "{}"],
        ),
        "reader calls fail",
    );
    assert!(refused.get("error").is_some(), "{refused}");
}

#[test]
fn tokens_and_origins_are_checked_before_anything_else() {
    let Some(clients) = mcp_clients("tokens_and_origins_are_checked_before_anything_else") else {
        return;
    };
    let server = McpHost::start();
    let discover = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let modern = "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: server/discover\r\n";
    let (status, headers, _) = server.post(None, modern, discover);
    assert_eq!(status, 401);
    assert!(
        headers.contains(&format!(
            "www-authenticate: bearer resource_metadata=\"http://{}/.well-known/oauth-protected-resource/mcp\"",
            server.host.address
        )),
        "{headers}"
    );
    let (status, headers, _) = server.post(
        Some("pb_0000000000000000000000000000000000000000000000000000000000000000"),
        modern,
        discover,
    );
    assert_eq!(status, 401);
    assert!(headers.contains("error=\"invalid_token\""), "{headers}");
    let (status, _, metadata) = server.http(&format!(
        "GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.host.address
    ));
    assert_eq!(status, 200);
    assert!(
        metadata.contains(&format!(
            "\"resource\":\"http://{}/mcp\"",
            server.host.address
        )),
        "{metadata}"
    );

    let admin = server.host.admin_token.clone();
    let (status, _, body) = server.post(Some(&admin), modern, discover);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"supportedVersions\""), "{body}");
    let (status, _, body) = server.post(
        Some(&admin),
        &format!("{modern}Origin: http://evil.example\r\n"),
        discover,
    );
    assert_eq!(status, 403, "a foreign Origin is refused: {body}");
    let (status, _, body) = server.post(
        Some(&admin),
        &format!("{modern}Origin: http://{}\r\n", server.host.address),
        discover,
    );
    assert_eq!(status, 200, "the server's own Origin is fine: {body}");
    let (status, _, body) = server.post(
        Some(&admin),
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/list\r\n",
        discover,
    );
    assert_eq!(status, 400, "Mcp-Method must match the body: {body}");
    assert!(body.contains("-32020"), "{body}");
    for method in ["GET", "DELETE"] {
        let (status, headers, _) = server.http(&format!(
            "{method} /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {admin}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
            server.host.address
        ));
        assert_eq!(status, 405, "{method} without a session");
        assert!(headers.contains("allow: post"), "{headers}");
    }

    // What the clients make of it.
    let missing = answer(
        &clients.python(&server.url, "-", "auto", &["tools"]),
        "no token",
    );
    assert!(missing.get("error").is_some(), "{missing}");
    let wrong = answer(
        &clients.node(
            &server.url,
            "pb_0000000000000000000000000000000000000000000000000000000000000000",
            &["tools"],
        ),
        "a wrong token",
    );
    assert!(
        wrong["message"].as_str().unwrap_or("").contains("401"),
        "{wrong}"
    );
}

/// A client kept running: its stdout lines arrive on a channel.
struct Listener {
    child: Child,
    lines: mpsc::Receiver<Value>,
    what: &'static str,
}

impl Listener {
    fn start(mut command: std::process::Command, what: &'static str) -> Listener {
        let mut child = command.spawn().expect("the listening client starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    let _ = sender.send(value);
                }
            }
        });
        let listener = Listener { child, lines, what };
        let ready = listener.next(Duration::from_secs(60));
        assert_eq!(ready["ready"], true, "{what}: {ready}");
        listener
    }

    fn next(&self, within: Duration) -> Value {
        self.lines
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("{}: nothing within {within:?}", self.what))
    }

    fn expect_list_changed(&self) {
        let line = self.next(Duration::from_secs(20));
        assert_eq!(
            line["notification"], "tools/list_changed",
            "{}: {line}",
            self.what
        );
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn listeners_hear_when_a_plugin_is_disabled_and_enabled() {
    let Some(clients) = mcp_clients("listeners_hear_when_a_plugin_is_disabled_and_enabled") else {
        return;
    };
    let server = McpHost::start();
    let admin = &server.host.admin_token;
    let listeners = [
        Listener::start(
            clients.python_child(&server.url, admin, "legacy", &["listen"]),
            "python, 2025-11-25 GET stream",
        ),
        Listener::start(
            clients.python_child(&server.url, admin, "auto", &["listen"]),
            "python, 2026-07-28 subscriptions/listen",
        ),
        Listener::start(
            clients.node_child(&server.url, admin, &["listen"]),
            "typescript, 2025-11-25 GET stream",
        ),
    ];
    for action in ["disable", "enable"] {
        let done = plugin_command(server.data.path(), &[action, "scripted"]);
        assert!(done.status.success(), "{action}: {}", printed(&done));
        for listener in &listeners {
            listener.expect_list_changed();
        }
    }
    let listed = names(&ok(
        clients.python(&server.url, admin, "auto", &["tools"]),
        "tools",
    ));
    assert!(listed.contains(&"scripted.echo".to_owned()), "{listed:?}");
}

/// Polls the job of a tool call until it has `status`; answers the job.
fn job_becomes(server: &McpHost, tool: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = server.host.get("/api/v1/jobs?kind=plugin.tool");
        let page: Value = serde_json::from_str(&body).expect("a page of jobs");
        if let Some(job) = page["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|job| job["payload"]["tool"] == tool && job["status"] == status)
        {
            return job.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {tool} job became {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_of(server: &McpHost, job: &Value) -> String {
    server
        .host
        .get(&format!("/api/v1/jobs/{}/logs", job["id"]))
        .1
}

#[test]
fn a_client_that_goes_away_or_cancels_cancels_the_job_and_the_plugin_hears_it() {
    let Some(clients) =
        mcp_clients("a_client_that_goes_away_or_cancels_cancels_the_job_and_the_plugin_hears_it")
    else {
        return;
    };
    let server = McpHost::start();
    let admin = &server.host.admin_token;
    // 2025-11-25: the TypeScript client aborts its call and sends notifications/cancelled.
    let cancelled = ok(
        clients.node(
            &server.url,
            admin,
            &["cancel", "scripted.sleep", r#"{"ms": 30000}"#],
        ),
        "abort",
    );
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    let job = job_becomes(&server, "sleep", "cancelled");
    assert!(
        log_of(&server, &job).contains("the host cancelled the sleep"),
        "the plugin heard the cancel: {}",
        log_of(&server, &job)
    );

    // 2026-07-28: the Python client goes away mid-call; its closed stream cancels the job.
    let mut call = clients
        .python_child(
            &server.url,
            admin,
            "auto",
            &["call", "scripted.sleep", r#"{"ms": 30001}"#],
        )
        .spawn()
        .expect("the client starts");
    let running = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = server
                .host
                .get("/api/v1/jobs?kind=plugin.tool&status=running");
            if body.contains("30001") {
                break body;
            }
            assert!(Instant::now() < deadline, "the call never ran: {body}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    call.kill().expect("the client is killed");
    call.wait().expect("the client is reaped");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = server
            .host
            .get("/api/v1/jobs?kind=plugin.tool&status=cancelled");
        if body.contains("30001") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned call's job was not cancelled: {body}\nrunning was: {running}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_task_outlives_the_node_that_took_the_call() {
    let Some(clients) = mcp_clients("a_task_outlives_the_node_that_took_the_call") else {
        return;
    };
    let server = McpHost::start();
    let admin = server.host.admin_token.clone();
    // A quick call answers at once, even to a client that takes tasks.
    let quick = ok(
        clients.python(
            &server.url,
            &admin,
            "auto",
            &["task", "scripted.echo", r#"{"text": "now"}"#],
        ),
        "quick",
    );
    assert_eq!(text(&quick["result"]), "now", "{quick}");
    // The SDK, with the extension resolving the task, waits for the result.
    let waited = ok(
        clients.python(
            &server.url,
            &admin,
            "auto",
            &["task-wait", "scripted.sleep", r#"{"ms": 2500}"#],
        ),
        "task-wait",
    );
    assert_eq!(text(&waited["result"]), "slept 2500 ms", "{waited}");

    let claimed = ok(
        clients.python(
            &server.url,
            &admin,
            "auto",
            &["task", "scripted.sleep", r#"{"ms": 4000}"#],
        ),
        "task",
    );
    let task_id = claimed["claimed"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a long call answers a task: {claimed}"))
        .to_owned();
    assert_eq!(claimed["claimed"]["status"], "working", "{claimed}");

    // The node that took the call stops; another starts on the same store and answers the task.
    let McpHost {
        host, data, _work, ..
    } = server;
    let status = host.terminate();
    assert!(status.success(), "{status}");
    let second = TestHost::start(data.path(), FAST_LEASES);
    let url = format!("http://{}/mcp", second.address);
    let deadline = Instant::now() + Duration::from_secs(60);
    let task = loop {
        let polled = ok(
            clients.python(&url, &second.admin_token, "auto", &["task-get", &task_id]),
            "task-get",
        );
        if polled["task"]["status"] != "working" {
            break polled["task"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the task never finished: {polled}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(text(&task["result"]), "slept 4000 ms", "{task}");
    let unknown = answer(
        &clients.python(&url, &second.admin_token, "auto", &["task-get", "999999"]),
        "an unknown task",
    );
    assert!(unknown.get("error").is_some(), "{unknown}");
}

#[test]
fn any_node_sharing_the_store_lists_the_tools_and_answers_a_task_another_took() {
    const TEST: &str = "any_node_sharing_the_store_lists_the_tools_and_answers_a_task_another_took";
    let Some(schema) = crate::harness::PostgresSchema::new(TEST) else {
        return;
    };
    let Some(clients) = mcp_clients(TEST) else {
        return;
    };
    let mut flags: Vec<String> = FAST_LEASES.iter().map(|flag| flag.to_string()).collect();
    flags.extend(schema.flags());
    flags.extend(["--plugin-sync-interval-ms".to_owned(), "200".to_owned()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (data_a, data_b, work) = (temp_dir(), temp_dir(), temp_dir());
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))
        .expect("the package folder is made readable");
    let token = "an-admin-token-both-nodes-share-0123456789";
    let env = [("PLUGBOARD_ADMIN_TOKEN", token)];
    let node_a = TestHost::start_with_env(data_a.path(), &flags, &env);
    let node_b = TestHost::start_with_env(data_b.path(), &flags, &env);
    let folder = scripted_package(work.path(), "1.0.0", "ok");
    Cli::new(&node_a)
        .run(&["plugin", "install", folder.to_str().unwrap()])
        .expect_ok("install through node A");
    let url_a = format!("http://{}/mcp", node_a.address);
    let url_b = format!("http://{}/mcp", node_b.address);

    // Both nodes list the plugin's tools, from the metadata in the store.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = node_b.get("/api/v1/nodes");
        if body.matches("\"scripted\"").count() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin never ran on both nodes: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed_a = names(&ok(
        clients.python(&url_a, token, "auto", &["tools"]),
        "tools on A",
    ));
    let listed_b = names(&ok(clients.node(&url_b, token, &["tools"]), "tools on B"));
    assert!(
        listed_b.contains(&"scripted.sleep".to_owned()),
        "{listed_b:?}"
    );
    assert_eq!(listed_a, listed_b, "every node lists the same tools");

    // A task taken by node A, which then stops, is answered by node B.
    let claimed = ok(
        clients.python(
            &url_a,
            token,
            "auto",
            &["task", "scripted.sleep", r#"{"ms": 3000}"#],
        ),
        "task on A",
    );
    let task_id = claimed["claimed"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a long call answers a task: {claimed}"))
        .to_owned();
    let status = node_a.terminate();
    assert!(status.success(), "{status}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let task = loop {
        let polled = ok(
            clients.python(&url_b, token, "auto", &["task-get", &task_id]),
            "task-get on B",
        );
        if polled["task"]["status"] != "working" {
            break polled["task"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the task never finished: {polled}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(task["status"], "completed", "{task}\n{}", node_b.log());
    assert_eq!(text(&task["result"]), "slept 3000 ms", "{task}");
    let echoed = ok(
        clients.node(
            &url_b,
            token,
            &["call", "scripted.echo", r#"{"text": "from B"}"#],
        ),
        "echo on B",
    );
    assert_eq!(text(&echoed["result"]), "from B", "{echoed}");
}
