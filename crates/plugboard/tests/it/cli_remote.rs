//! `plugboard job|tenant|config|event|token …` with a server named: the CLI as a client of a
//! running server's API. Each group: success, the `--json` shape, a bad input with its problem
//! printed, a wrong token.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::cli::Cli;
use crate::harness::{temp_dir, TestHost, BINARY, FAST_LEASES};

fn job_command(host: &TestHost, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BINARY)
        .arg("job")
        .args(args)
        .args(["--url", &format!("http://{}", host.address)])
        .env("PLUGBOARD_TOKEN", token)
        .env_remove("PLUGBOARD_URL")
        .env_remove("PLUGBOARD_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("the plugboard binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn job_commands_call_the_api_with_url_and_token() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let token = host.admin_token.clone();
    let (ok, stdout, stderr) = job_command(&host, &token, &["enqueue", "noop", "{\"n\": 1}"]);
    assert!(ok, "{stderr}");
    let id = stdout.trim().to_owned();
    assert!(id.parse::<i64>().is_ok(), "{stdout}");
    // --follow returns once the job has finished.
    let (ok, _, stderr) = job_command(&host, &token, &["logs", &id, "--follow"]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = job_command(&host, &token, &["show", &id, "--json"]);
    assert!(ok, "{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    let (ok, stdout, _) = job_command(&host, &token, &["list", "--kind", "noop"]);
    assert!(ok);
    assert!(stdout.contains("succeeded"), "{stdout}");
    // A wrong token: the server's problem detail, and a failing exit.
    let (ok, _, stderr) = job_command(&host, "pb_wrong-token-that-is-long-enough-0000", &["list"]);
    assert!(!ok);
    assert!(
        stderr.contains("not the admin token nor a known API token"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(host.terminate().success());
}

#[test]
fn job_watch_follows_a_job_to_its_end_over_the_api_and_locally() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let id = cli
        .run(&["job", "enqueue", "noop", r#"{"sleep_ms": 300}"#])
        .expect_ok("enqueue")
        .trim()
        .to_owned();
    // Over the API: every change of the job as a JSON line, ending when it has finished.
    let watched = cli.run(&["job", "watch", &id, "--json"]);
    let lines: Vec<Value> = watched
        .expect_ok("watch")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON lines"))
        .collect();
    let statuses: Vec<&str> = lines
        .iter()
        .map(|line| line["job"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.last(), Some(&"succeeded"), "{watched:?}");
    assert!(
        lines
            .iter()
            .all(|line| line["position"].as_str().is_some_and(|p| p.contains('-'))),
        "{watched:?}"
    );
    // A job that did not succeed (cancelled here): exit code 1, as scripts waiting on it want.
    let cancelled = cli
        .run(&["job", "enqueue", "noop", "--delay-ms", "60000"])
        .expect_ok("enqueue")
        .trim()
        .to_owned();
    cli.run(&["job", "cancel", &cancelled]).expect_ok("cancel");
    let watched = cli.run(&["job", "watch", &cancelled]);
    assert_eq!(watched.code, Some(1), "{watched:?}");
    assert!(watched.stdout.contains("cancelled"), "{watched:?}");

    // Locally, from the store: the finished job's current state, then the end.
    let local = crate::harness::plugboard(&[
        "job",
        "watch",
        &id,
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let printed = String::from_utf8_lossy(&local.stdout);
    assert!(local.status.success(), "{local:?}");
    assert!(printed.contains("succeeded"), "{printed}");
    let missing = crate::harness::plugboard(&[
        "job",
        "watch",
        "999999",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("does not exist"),
        "{missing:?}"
    );
    assert!(host.terminate().success());
}

/// A plugin's config schema in the store, as if the plugin had reported it at its handshake.
async fn uptime_schema(data_dir: &std::path::Path) {
    use plugboard::store::{MetadataState, PluginMetadataRecord, Timestamp};
    let store = crate::harness::sqlite_store(data_dir).await;
    store
        .plugin_metadata_put(PluginMetadataRecord {
            plugin: "uptime".into(),
            version: "1.0.0".into(),
            checksum: "test".into(),
            state: MetadataState::Fresh,
            metadata: Some(serde_json::json!({"configSchema": {
                "type": "object",
                "properties": {"url": {"type": "string"}, "port": {"type": "integer", "maximum": 65535}},
                "required": ["url"],
                "additionalProperties": false,
            }})),
            error: None,
            updated_at: Timestamp(0),
        })
        .await
        .unwrap();
    store.close().await;
}

const WRONG_TOKEN: &str = "pb_wrong-token-that-is-long-enough-0000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_config_and_event_commands_call_the_api() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    uptime_schema(data.path()).await;
    let cli = Cli::new(&host);

    // Tenants: tables for people, the API's JSON for scripts, problems with their fields.
    let out = cli.run(&["tenant", "create", "acme", "--name", "Acme Inc."]);
    assert_eq!(out.expect_ok("tenant create").trim(), "tenant acme created");
    let tenant = cli.run(&["tenant", "create", "globex", "--json"]).json();
    assert_eq!(tenant["id"], "globex");
    assert!(tenant["created_at"].is_string(), "{tenant}");
    let table = cli.run(&["tenant", "list"]);
    assert!(
        table.expect_ok("tenant list").contains("Acme Inc."),
        "{table:?}"
    );
    let list = cli.run(&["tenant", "list", "--json"]).json();
    assert_eq!(list["tenants"].as_array().unwrap().len(), 2, "{list}");
    let refused = cli.run(&["tenant", "create", "no spaces"]);
    refused.expect_refused("Invalid request");
    refused.expect_refused("HTTP 422");
    refused.expect_refused("/id");
    cli.run_as(WRONG_TOKEN, &["tenant", "list"])
        .expect_refused("HTTP 401");

    // Configs, named by tenant, plugin and name as with the store opened directly.
    let config = cli.run(&[
        "config",
        "set",
        "--tenant",
        "acme",
        "--plugin",
        "uptime",
        "--name",
        "home",
        "--values",
        r#"{"url": "https://example.com"}"#,
        "--schedule",
        r#"{"interval_seconds": 300}"#,
        "--events",
        "site.*",
        "--json",
    ]);
    let config = config.json();
    assert!(
        config["id"].as_str().unwrap().starts_with("cfg_"),
        "{config}"
    );
    assert_eq!(config["schedule"]["interval_seconds"], 300);
    // What `set` does not name is kept.
    let changed = cli
        .run(&[
            "config",
            "set",
            "--tenant",
            "acme",
            "--plugin",
            "uptime",
            "--name",
            "home",
            "--values",
            r#"{"url": "https://example.org"}"#,
            "--json",
        ])
        .json();
    assert_eq!(changed["id"], config["id"]);
    assert_eq!(changed["values"]["url"], "https://example.org");
    assert_eq!(changed["schedule"]["interval_seconds"], 300, "{changed}");
    assert_eq!(changed["events"], serde_json::json!(["site.*"]));
    let shown = cli.run(&[
        "config", "show", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
    ]);
    assert!(
        shown
            .expect_ok("config show")
            .contains("https://example.org"),
        "{shown:?}"
    );
    let listed = cli.run(&["config", "list", "--json"]).json();
    assert_eq!(listed["configs"].as_array().unwrap().len(), 1, "{listed}");
    let refused = cli.run(&[
        "config",
        "set",
        "--tenant",
        "acme",
        "--plugin",
        "uptime",
        "--name",
        "bad",
        "--values",
        r#"{"url": "https://example.com", "port": 70000}"#,
    ]);
    refused.expect_refused("HTTP 422");
    refused.expect_refused("/values/port: 70000 is greater than the maximum of 65535");
    let valid = cli.run(&[
        "config", "validate", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
    ]);
    assert_eq!(valid.expect_ok("config validate").trim(), "valid");
    let disabled = cli
        .run(&[
            "config", "disable", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
            "--json",
        ])
        .json();
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["schedule"]["interval_seconds"], 300, "{disabled}");
    let run = cli
        .run(&[
            "config", "run-now", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
            "--json",
        ])
        .json();
    assert_eq!(run["kind"], "plugin.run", "{run}");
    cli.run(&[
        "config", "show", "--tenant", "acme", "--plugin", "uptime", "--name", "nope",
    ])
    .expect_refused("has no config `nope` of plugin uptime");
    // Over the API, a test runs on the server's plugin: a config that does not exist is named.
    cli.run(&["config", "test", "--tenant", "acme", "--plugin", "uptime"])
        .expect_refused("has no config `default`");
    cli.run_as(WRONG_TOKEN, &["config", "list", "--tenant", "acme"])
        .expect_refused("HTTP 401");

    // Events.
    let posted = cli.run(&[
        "event",
        "post",
        "site.down",
        r#"{"n": 1}"#,
        "--tenant",
        "acme",
        "--idempotency-key",
        "k1",
    ]);
    // acme's config that follows site.* is disabled by now: no job.
    assert!(
        posted
            .expect_ok("event post")
            .ends_with("posted; 0 jobs enqueued\n"),
        "{posted:?}"
    );
    let again = cli
        .run(&[
            "event",
            "post",
            "site.down",
            "--tenant",
            "acme",
            "--idempotency-key",
            "k1",
            "--json",
        ])
        .json();
    assert_eq!(again["created"], false, "{again}");
    let events = cli
        .run(&["event", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(events["events"][0]["type"], "site.down", "{events}");
    let table = cli.run(&["event", "list"]);
    assert!(table.expect_ok("event list").contains("site.down"));
    let refused = cli.run(&["event", "post", "site.down", "--tenant", "initech"]);
    refused.expect_refused("tenant `initech` does not exist");
    cli.run_as(WRONG_TOKEN, &["event", "list"])
        .expect_refused("HTTP 401");

    // Deleting.
    cli.run(&[
        "config", "delete", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
    ])
    .expect_ok("config delete");
    let listed = cli
        .run(&["config", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(listed["configs"], serde_json::json!([]), "{listed}");
    cli.run(&["tenant", "delete", "globex"])
        .expect_ok("tenant delete");
    cli.run(&["tenant", "show", "globex"])
        .expect_refused("HTTP 404");
    assert!(host.terminate().success());
}

#[test]
fn token_commands_create_list_and_revoke() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let created = cli
        .run(&[
            "token",
            "create",
            "ci",
            "--access",
            "read",
            "--expires-in",
            "1h",
            "--json",
        ])
        .json();
    let secret = created["secret"].as_str().expect("the secret").to_owned();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert!(secret.starts_with("pb_"), "{created}");
    assert!(created["expires_at"].is_string(), "{created}");
    // The secret alone on stdout, for `TOKEN=$(plugboard token create …)`.
    let plain = cli.run(&["token", "create", "ops", "--access", "write"]);
    assert!(plain.expect_ok("token create").trim().starts_with("pb_"));
    assert!(plain.stderr.contains("shown this once"), "{plain:?}");
    let table = cli.run(&["token", "list"]);
    assert!(table.expect_ok("token list").contains(&id), "{table:?}");
    assert!(!table.stdout.contains(&secret), "secrets are never listed");
    let listed = cli.run(&["token", "list", "--json"]).json();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2, "{listed}");
    // The read token reads, cannot write, and cannot manage tokens.
    cli.run_as(&secret, &["tenant", "list"])
        .expect_ok("tenant list with a read token");
    cli.run_as(&secret, &["tenant", "create", "acme"])
        .expect_refused("may only read");
    cli.run_as(&secret, &["token", "list"])
        .expect_refused("HTTP 403");
    cli.run(&["token", "create", "x", "--access", "admin"])
        .expect_usage_error("invalid value 'admin'");
    cli.run(&["token", "create", "", "--access", "read"])
        .expect_refused("/name");
    cli.run_as(WRONG_TOKEN, &["token", "list"])
        .expect_refused("HTTP 401");
    let revoked = cli.run(&["token", "revoke", &id]);
    assert!(revoked.expect_ok("token revoke").contains("revoked"));
    cli.run_as(&secret, &["tenant", "list"])
        .expect_refused("was revoked");
    cli.run(&["token", "revoke", "tok_nope"])
        .expect_refused("HTTP 404");
    // No server named and none running here: the command says how to name one.
    crate::harness::cli::run_in(cli.config_home.path(), &["token", "list"], &[])
        .expect_refused("no plugboard server found");
    assert!(host.terminate().success());
}

fn command(host: &TestHost, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BINARY)
        .args(args)
        .args(["--url", &format!("http://{}", host.address)])
        .env("PLUGBOARD_TOKEN", &host.admin_token)
        .env_remove("PLUGBOARD_URL")
        .env_remove("PLUGBOARD_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("the plugboard binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_config_commands_call_the_api() {
    let data = temp_dir();
    let packages = temp_dir();
    let package = crate::harness::packages::scripted_package(packages.path(), "1.0.0", "normal");
    let package = package.to_str().expect("a UTF-8 path");
    let mut flags: Vec<&str> = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package]);
    let host = TestHost::start(data.path(), &flags);
    let id = host.worker_id();

    let (ok, stdout, stderr) = command(&host, &["node", "list"]);
    assert!(ok, "{stderr}");
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("this node is listed: {stdout}"));
    assert!(line.contains(" up "), "{line}");
    assert!(line.contains("scripted"), "{line}");
    let (ok, stdout, stderr) = command(&host, &["node", "show", &id, "--json"]);
    assert!(ok, "{stderr}");
    let node: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(node["status"], "up", "{node}");
    assert_eq!(node["plugins"], serde_json::json!(["scripted"]));
    let (ok, _, stderr) = command(&host, &["node", "show", "no-such-node"]);
    assert!(!ok);
    assert!(stderr.contains("HTTP 404"), "{stderr}");

    // The plugin reports its metadata at its handshake; configs of it can be made once it did.
    let store = crate::harness::sqlite_store(data.path()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store
        .plugin_metadata_get("scripted")
        .await
        .unwrap()
        .and_then(|record| record.metadata)
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "{}", host.log());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store.close().await;
    let data_dir = data.path().to_str().unwrap();
    for args in [
        vec!["tenant", "create", "acme", "--data-dir", data_dir],
        vec![
            "config",
            "set",
            "--tenant",
            "acme",
            "--plugin",
            "scripted",
            "--name",
            "main",
            "--values",
            "{\"fail\": true}",
            "--data-dir",
            data_dir,
        ],
    ] {
        let output = crate::harness::plugboard(&args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let name = ["--tenant", "acme", "--plugin", "scripted", "--name", "main"];
    let (ok, stdout, stderr) = command(&host, &[&["config", "test"][..], &name].concat());
    assert!(!ok, "a failed test exits 1: {stdout} {stderr}");
    assert!(stdout.contains("failed: tested for acme"), "{stdout}");
    let (ok, stdout, stderr) = command(&host, &[&["config", "validate"][..], &name].concat());
    assert!(ok, "{stdout} {stderr}");
    assert_eq!(stdout.trim(), "valid");
    let (ok, stdout, stderr) = command(
        &host,
        &[
            &["config", "validate", "--values", "{\"url\": 1}"][..],
            &name,
        ]
        .concat(),
    );
    assert!(ok, "the plugin declares no schema: {stdout} {stderr}");
    let (ok, _, stderr) = command(
        &host,
        &[
            "config", "test", "--tenant", "acme", "--plugin", "scripted", "--name", "nope",
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("has no config `nope`"), "{stderr}");
    assert!(host.terminate().success());
}

/// `job enqueue plugin.run` names a config with `--config-id` (the host fills it in); a payload
/// carrying `config` or `trigger` is refused, and another tenant's config is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_enqueue_names_a_config_by_id_and_cannot_forge_a_runs_config_or_trigger() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    uptime_schema(data.path()).await;
    let cli = Cli::new(&host);
    for tenant in ["acme", "globex"] {
        cli.run(&["tenant", "create", tenant])
            .expect_ok("tenant create");
    }
    let config_of = |tenant: &str| {
        cli.run(&[
            "config",
            "set",
            "--tenant",
            tenant,
            "--plugin",
            "uptime",
            "--name",
            "home",
            "--values",
            r#"{"url": "https://example.com"}"#,
            "--json",
        ])
        .json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (acme_config, globex_config) = (config_of("acme"), config_of("globex"));
    let acme = cli
        .run(&[
            "token", "create", "acme", "--tenant", "acme", "--access", "write",
        ])
        .expect_ok("token create")
        .trim()
        .to_owned();

    let forged = format!(
        r#"{{"plugin": "uptime", "config": {{"id": "{globex_config}", "name": "home", "values": {{"url": "https://attacker.example"}}}}, "trigger": {{"kind": "event"}}}}"#
    );
    let refused = cli.run_as(&acme, &["job", "enqueue", "plugin.run", &forged]);
    refused.expect_refused("HTTP 422");
    refused.expect_refused("/payload/config");
    refused.expect_refused("/payload/trigger");
    cli.run_as(
        &acme,
        &[
            "job",
            "enqueue",
            "plugin.run",
            "--config-id",
            &globex_config,
        ],
    )
    .expect_refused("HTTP 404");

    let job = cli
        .run_as(
            &acme,
            &[
                "job",
                "enqueue",
                "plugin.run",
                r#"{"payload": {"page": 2}}"#,
                "--config-id",
                &acme_config,
                "--json",
            ],
        )
        .json();
    assert_eq!(job["tenant"], "acme", "{job}");
    assert_eq!(
        job["payload"]["config"]["id"],
        Value::from(acme_config.clone())
    );
    assert_eq!(
        job["payload"]["config"]["values"]["url"],
        "https://example.com"
    );
    assert_eq!(job["payload"]["trigger"]["kind"], "manual");
    assert_eq!(job["payload"]["payload"]["page"], 2);

    // With the store opened directly, the same rule and the same --config-id.
    let data_dir = data.path().to_str().unwrap();
    let local = crate::harness::plugboard(&[
        "job",
        "enqueue",
        "plugin.run",
        &forged,
        "--data-dir",
        data_dir,
    ]);
    assert!(!local.status.success());
    let stderr = String::from_utf8_lossy(&local.stderr);
    assert!(stderr.contains("only the host writes"), "{stderr}");
    let local = crate::harness::plugboard(&[
        "job",
        "enqueue",
        "plugin.run",
        "--config-id",
        &acme_config,
        "--json",
        "--data-dir",
        data_dir,
    ]);
    assert!(local.status.success(), "{local:?}");
    let id = serde_json::from_slice::<Value>(&local.stdout).unwrap()["id"].to_string();
    let shown = cli.run(&["job", "show", &id, "--json"]).json();
    assert_eq!(
        shown["payload"]["config"]["id"],
        Value::from(acme_config.clone())
    );
    assert_eq!(shown["payload"]["trigger"]["kind"], "manual");
    assert!(host.terminate().success());
}

/// `job import`: NDJSON in batches over `POST /api/v1/jobs/batch`; unique keys per job; a refused
/// line stops the import with its line number and how to resume; without a server, it says so.
#[test]
fn job_import_sends_ndjson_in_batches_and_names_a_refused_line() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let files = temp_dir();
    let mut text = String::new();
    for n in 0..2500 {
        text.push_str(&format!(
            "{{\"kind\": \"noop\", \"queue\": \"import\", \"payload\": {{\"n\": {n}}}}}\n"
        ));
    }
    text.push('\n');
    text.push_str("{\"kind\": \"noop\", \"queue\": \"import\", \"unique_key\": \"once\"}\n");
    let jobs = files.path().join("jobs.ndjson");
    std::fs::write(&jobs, &text).expect("write the jobs");
    let path = jobs.to_str().expect("a UTF-8 path");
    let imported = cli.run(&["job", "import", path, "--batch", "1000"]);
    assert_eq!(
        imported.expect_ok("job import").trim(),
        "2501 jobs enqueued, 0 existed already (same unique_key)"
    );
    // Again: the keyed job exists, the others are added again.
    let again = cli.run(&["job", "import", path, "--batch", "5000"]);
    assert!(
        again
            .expect_ok("job import")
            .contains("2500 jobs enqueued, 1 existed"),
        "{again:?}"
    );
    let listed = cli
        .run(&[
            "job", "list", "--queue", "import", "--limit", "500", "--json",
        ])
        .json();
    // `job list --json` prints the API's page.
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(500));

    // Line 4 is refused: the first batch (lines 1 and 2) is stored, the second is not.
    let bad = files.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        "{\"kind\": \"noop\", \"queue\": \"bad\"}\n{\"kind\": \"noop\", \"queue\": \"bad\"}\n{\"kind\": \"noop\", \"queue\": \"bad\"}\n{\"kind\": \"noop\", \"max_attempts\": 0}\n",
    )
    .expect("write the jobs");
    let refused = cli.run(&[
        "job",
        "import",
        bad.to_str().expect("UTF-8"),
        "--batch",
        "2",
    ]);
    let says = refused.expect_refused("line 4 of");
    assert!(says.contains("max_attempts"), "{says}");
    assert!(says.contains("2 jobs before it were"), "{says}");
    assert!(says.contains("--skip 2"), "{says}");
    let stored = cli.run(&["job", "list", "--queue", "bad", "--json"]).json();
    assert_eq!(stored["jobs"].as_array().map(Vec::len), Some(2));

    // Not JSON: nothing is sent.
    std::fs::write(&bad, "{\"kind\": \"noop\"}\nnot json\n").expect("write");
    cli.run(&["job", "import", bad.to_str().expect("UTF-8")])
        .expect_refused("line 2 of");
    // Without a server, it says to name one.
    let local = Command::new(BINARY)
        .args(["job", "import", path])
        .env_remove("PLUGBOARD_URL")
        .env_remove("PLUGBOARD_TOKEN")
        .env("XDG_CONFIG_HOME", files.path())
        .stdin(Stdio::null())
        .output()
        .expect("the plugboard binary runs");
    assert!(!local.status.success());
    assert!(
        String::from_utf8_lossy(&local.stderr).contains("no plugboard server found"),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
}

/// A reader that leaves early (`plugboard job list | head -1`) ends the command quietly with
/// exit code 0, as `ls` or `grep` do: no panic, no message.
#[test]
fn a_listing_into_a_closed_pipe_ends_quietly_with_exit_0() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    for n in 0..3 {
        cli.run(&["job", "enqueue", "noop", &format!("{{\"n\": {n}}}")])
            .expect_ok("job enqueue");
    }
    let client = |command: &mut Command| {
        command
            .env("PLUGBOARD_URL", &cli.url)
            .env("PLUGBOARD_TOKEN", &cli.token)
            .env("XDG_CONFIG_HOME", cli.config_home.path())
            .env_remove("PLUGBOARD_PROFILE")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
    };
    // stdout is a pipe whose reader is gone before the command writes a line.
    for args in [&["job", "list"][..], &["job", "list", "--json"][..]] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let mut command = Command::new(BINARY);
        command.args(args).stdout(writer);
        client(&mut command);
        let output = command.output().expect("the plugboard binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // And as a shell runs it, where a failing left side fails the pipeline.
    let mut command = Command::new("bash");
    command.args([
        "-o",
        "pipefail",
        "-c",
        &format!("'{BINARY}' job list | head -1"),
    ]);
    command.stdout(Stdio::piped());
    client(&mut command);
    let output = command.output().expect("bash runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    assert!(host.terminate().success());
}

/// With no server named, a client command calls the server running on its data directory, with
/// the admin token kept there; with none running, it says what to do and creates nothing.
#[test]
fn a_command_with_no_server_named_calls_the_one_running_on_its_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let data = temp_dir();
    let dir = data.path().to_str().expect("a UTF-8 path");
    let typo = data.path().join("typo");
    let typo = typo.to_str().expect("a UTF-8 path");
    let refused = |args: &[&str], expected: &str| {
        let output = crate::harness::plugboard(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("--url"), "{args:?}: {stderr}");
    };
    let nothing_made = || {
        assert_eq!(
            std::fs::read_dir(data.path())
                .expect("the data directory")
                .count(),
            0,
            "a client command creates nothing"
        );
    };
    refused(
        &["job", "list", "--data-dir", typo],
        "there is no data directory",
    );
    refused(
        &["tenant", "list", "--data-dir", dir],
        "no plugboard server is running on the data directory",
    );
    nothing_made();

    let host = TestHost::start(data.path(), FAST_LEASES);
    let file = data.path().join("server.json");
    let mode = std::fs::metadata(&file)
        .expect("serve writes server.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "server.json is this user's only");
    let enqueued = crate::harness::plugboard(&["job", "enqueue", "noop", "--data-dir", dir]);
    assert!(enqueued.status.success(), "{enqueued:?}");
    let listed = crate::harness::plugboard(&["job", "list", "--json", "--data-dir", dir]);
    let page: Value = serde_json::from_slice(&listed.stdout).expect("the API's page");
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(1));
    // PLUGBOARD_DATA_DIR names it too.
    let output = Command::new(BINARY)
        .args(["tenant", "list"])
        .env("PLUGBOARD_DATA_DIR", dir)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env_remove("PLUGBOARD_URL")
        .env_remove("PLUGBOARD_TOKEN")
        .env_remove("PLUGBOARD_PROFILE")
        .output()
        .expect("the plugboard binary runs");
    assert!(output.status.success(), "{output:?}");

    // A clean stop removes the file: the same message as before it started.
    assert!(host.terminate().success());
    assert!(!file.exists(), "a clean stop removes server.json");
    refused(
        &["job", "list", "--data-dir", dir],
        "no plugboard server is running on the data directory",
    );

    // A killed server leaves it behind, and the command says the server is gone.
    let host = TestHost::start(data.path(), FAST_LEASES);
    host.kill9();
    refused(
        &["job", "list", "--data-dir", dir],
        "is no longer running: it stopped without removing server.json",
    );
}

/// `--json` prints the API's answer as the API sent it: each command group's output is checked
/// against the schema `docs/openapi.json` gives the answer of the endpoint it calls, and the
/// same command without `--json` prints something for people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_groups_json_is_the_answer_the_document_describes() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    uptime_schema(data.path()).await;
    let cli = Cli::new(&host);
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .expect("docs/openapi.json"),
    )
    .expect("the document is JSON");
    // `once`: a command that cannot run twice (a create, a retry): its output for people is
    // tested elsewhere.
    let check = |args: &[&str], schema: &str, once: bool| -> Value {
        let answer = cli.run(&[args, &["--json"]].concat()).json();
        let root = serde_json::json!({
            "$ref": format!("#/components/schemas/{schema}"),
            "components": document["components"],
        });
        let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
        let errors: Vec<String> = validator
            .iter_errors(&answer)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .take(5)
            .collect();
        assert!(
            errors.is_empty(),
            "{args:?} --json is not a {schema}: {errors:?}"
        );
        if once {
            return answer;
        }
        let human = cli.run(args);
        let text = human.expect_ok("the same command for people");
        assert!(
            !text.trim_start().starts_with('{') && !text.trim().is_empty(),
            "{args:?} prints for people without --json: {text}"
        );
        answer
    };
    let conforms = |args: &[&str], schema: &str| check(args, schema, false);

    let job = conforms(
        &[
            "job",
            "enqueue",
            "noop",
            "{\"sleep_ms\": 60000}",
            "--queue",
            "slow",
        ],
        "JobView",
    );
    let id = job["id"].to_string();
    conforms(&["job", "list"], "JobPage");
    conforms(&["job", "show", &id], "JobView");
    let waiting = conforms(
        &["job", "enqueue", "noop", "--delay-ms", "3600000"],
        "JobView",
    );
    let waiting = waiting["id"].to_string();
    conforms(&["job", "cancel", &waiting], "CancelResult");
    check(&["job", "retry", &waiting], "JobView", true);

    check(&["tenant", "create", "acme"], "TenantView", true);
    conforms(&["tenant", "list"], "TenantList");
    conforms(&["tenant", "show", "acme"], "TenantView");
    let config = ["--tenant", "acme", "--plugin", "uptime", "--name", "home"];
    conforms(
        &[
            &["config", "set"][..],
            &config,
            &["--values", r#"{"url": "https://example.com"}"#],
        ]
        .concat(),
        "ConfigBody",
    );
    conforms(&["config", "list", "--tenant", "acme"], "ConfigList");
    conforms(&[&["config", "show"][..], &config].concat(), "ConfigBody");
    conforms(
        &[&["config", "disable"][..], &config].concat(),
        "ConfigBody",
    );
    conforms(
        &["event", "post", "site.down", "--tenant", "acme"],
        "PostedEvent",
    );
    conforms(&["event", "list"], "EventPage");
    conforms(
        &["limit", "set", "tenant", "acme", "--max-running", "2"],
        "LimitView",
    );
    conforms(&["limit", "list"], "LimitList");
    conforms(&["plugin", "list"], "PluginList");
    conforms(&["token", "list"], "TokenList");
    conforms(&["node", "list"], "NodeList");
    assert!(host.terminate().success());
}

/// Exit codes, as docs/api.md lists them: 0 done, 1 refused or failed (a missing job's `404`
/// included), 2 a command line that does not parse.
#[test]
fn exit_codes_say_done_failed_or_misused() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    assert_eq!(cli.run(&["job", "list"]).code, Some(0));
    let missing = cli.run(&["job", "show", "999"]);
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(missing.stderr.contains("HTTP 404"), "{missing:?}");
    let cancel = cli.run(&["job", "cancel", "999"]);
    assert_eq!(cancel.code, Some(1), "{cancel:?}");
    for misuse in [
        &["job", "frobnicate"][..],
        &["job", "show"],
        &["job", "list", "--limit", "many"],
    ] {
        let ran = cli.run(misuse);
        assert_eq!(ran.code, Some(2), "{misuse:?}: {ran:?}");
        assert!(ran.stderr.contains("--help"), "{misuse:?}: {ran:?}");
    }
    assert!(host.terminate().success());
}
