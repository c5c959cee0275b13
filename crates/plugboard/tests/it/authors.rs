//! What a plugin author meets, through the real binary: the host keeps the protocol's promises
//! (a config the plugin's `config/validate` rejects is not saved; a `configSchema` that is not
//! JSON Schema is refused at install with every error), and an author's usual mistakes explain
//! themselves (a plugin that dies mid-run, never flushes stdout, pretty-prints its JSON, or
//! prints debug lines on stdout), in the job's error and log, said once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugboard::store::{JobId, JobStatus, NewJob, Store};
use serde_json::json;

use crate::harness::cli::Cli;
use crate::harness::{sqlite_store, temp_dir, wait_all, TestHost, FAST_LEASES};

/// A scripted plugin's package in `root`, in `mode`, declaring `config_schema` when given (its
/// `config/validate` then rejects values with a `reject` field).
fn package(root: &Path, mode: &str, config_schema: Option<&serde_json::Value>) -> PathBuf {
    let folder = root.join(format!("scripted-{mode}"));
    std::fs::create_dir_all(&folder).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted_plugin.py");
    std::fs::copy(script, folder.join("main.py")).unwrap();
    let mut manifest = format!(
        "id = \"scripted\"\nname = \"Scripted\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n[env]\nPLUGBOARD_TEST_MODE = \"{mode}\"\n"
    );
    if let Some(schema) = config_schema {
        manifest.push_str(&format!(
            "PLUGBOARD_TEST_CONFIG_SCHEMA = {:?}\n",
            schema.to_string()
        ));
    }
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    folder
}

async fn log_of(store: &std::sync::Arc<dyn Store>, id: JobId) -> Vec<String> {
    store
        .log_list(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|line| line.message)
        .collect()
}

async fn run_once(store: &std::sync::Arc<dyn Store>) -> JobId {
    let mut job = NewJob::new("plugin.run", json!({"plugin": "scripted"}));
    job.max_attempts = 1;
    store.job_enqueue(job).await.unwrap().id
}

/// Waits until the server's log has a line with every one of `words`, and answers it.
fn wait_for_log_line(host: &TestHost, words: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = host
            .log()
            .lines()
            .find(|line| words.iter().all(|word| line.contains(word)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {words:?}:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_config_the_plugin_rejects_is_not_saved_and_validate_asks_the_plugin() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let schema = json!({
        "type": "object",
        "properties": {"greeting": {"type": "string"}, "reject": {"type": "string"}},
        "additionalProperties": false
    });
    let folder = package(work.path(), "ok", Some(&schema));
    cli.run(&["plugin", "install", folder.to_str().unwrap()])
        .expect_ok("install");
    // `plugin show` names what was uploaded, not the server's staging file.
    let shown = cli.run(&["plugin", "show", "scripted", "--json"]).json();
    assert_eq!(shown["source"], json!("upload of scripted-ok/"), "{shown}");
    cli.run(&["tenant", "create", "acme"])
        .expect_ok("tenant create");

    let set = |values: &str| {
        cli.run(&[
            "config", "set", "--tenant", "acme", "--plugin", "scripted", "--name", "main",
            "--values", values,
        ])
    };
    // Valid by the schema, rejected by the plugin: nothing is stored.
    let refused = set(r#"{"reject": "the plugin says no"}"#);
    let said = refused.expect_refused("the plugin says no");
    assert!(said.contains("config/validate"), "{refused:?}");
    let listed = cli
        .run(&["config", "list", "--tenant", "acme", "--json"])
        .json();
    assert_eq!(listed["configs"], json!([]), "{listed}");

    set(r#"{"greeting": "hello"}"#).expect_ok("a config the plugin accepts");
    // A replacement it rejects leaves the stored config as it was.
    set(r#"{"reject": "not this either"}"#).expect_refused("not this either");
    let name = ["--tenant", "acme", "--plugin", "scripted", "--name", "main"];
    let shown = cli
        .run(&[&["config", "show"][..], &name, &["--json"]].concat())
        .json();
    assert_eq!(shown["values"], json!({"greeting": "hello"}), "{shown}");

    // Validating proposed values and the stored config asks the plugin too, over the API.
    let proposed = cli.run(
        &[
            &["config", "validate"][..],
            &name,
            &["--values", r#"{"reject": "proposed and refused"}"#],
        ]
        .concat(),
    );
    assert_eq!(proposed.code, Some(1), "{proposed:?}");
    assert!(
        proposed
            .stdout
            .contains("/values/reject: proposed and refused"),
        "{proposed:?}"
    );
    let stored = cli.run(&[&["config", "validate"][..], &name].concat());
    assert_eq!(stored.stdout.trim(), "valid", "{stored:?}");
}

#[test]
fn a_config_schema_that_is_not_json_schema_is_refused_at_install_with_every_error_said_once() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let broken = json!({
        "type": "strng",
        "properties": {"port": {"minimum": "zero"}}
    });
    let folder = package(work.path(), "ok", Some(&broken));
    let refused = cli.run(&["plugin", "install", folder.to_str().unwrap()]);
    let said = refused.expect_refused("configSchema is not valid JSON Schema (2 problems)");
    for path in ["/type:", "/properties/port/minimum:"] {
        assert!(said.contains(path), "no {path} in {refused:?}");
    }
    // Said once: not again by the log's attempt line, the job's end and the command's error.
    assert_eq!(
        said.matches("is not valid JSON Schema").count(),
        1,
        "{refused:?}"
    );
    let listed = cli.run(&["plugin", "list", "--json"]).json();
    assert_eq!(
        listed["plugins"],
        json!([]),
        "nothing was installed: {listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_dies_mid_run_leaves_its_exit_status_and_last_stderr_lines_in_the_job() {
    let data = temp_dir();
    let folder = package(data.path(), "crash-mid-run", None);
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", folder.to_str().unwrap()]);
    let _host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let id = run_once(&store).await;
    let failed = wait_all(&store, &[id], JobStatus::Failed, Duration::from_secs(60)).await;
    let error = failed[0].error.clone().unwrap_or_default();
    for expected in [
        "ended during `run`",
        "exit status: 1",
        "ZeroDivisionError: division by zero",
    ] {
        assert!(error.contains(expected), "no `{expected}` in {error}");
    }
    let log = log_of(&store, id).await;
    assert!(
        log.iter()
            .any(|line| line.contains("ended during `run` (exit status: 1)")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|line| line == "[stderr] ZeroDivisionError: division by zero"),
        "{log:?}"
    );
    store.close().await;
}

#[test]
fn a_plugin_that_never_flushes_or_pretty_prints_is_told_what_the_host_saw() {
    let data = temp_dir();
    let unflushed = package(data.path(), "unflushed", None);
    let mut flags = FAST_LEASES.to_vec();
    flags.extend([
        "--plugin",
        unflushed.to_str().unwrap(),
        "--plugin-start-timeout-ms",
        "1000",
    ]);
    let host = TestHost::start(data.path(), &flags);
    let line = wait_for_log_line(&host, &["did not answer initialize within 1000 ms"]);
    assert!(
        line.contains("it wrote nothing on its stdout: is its output buffered?")
            && line.contains("flush=True"),
        "{line}"
    );
    drop(host);

    // Installed the way users install: the install job's error says it.
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(
        data.path(),
        &[FAST_LEASES, &["--plugin-start-timeout-ms", "1000"]].concat(),
    );
    let cli = Cli::new(&host);
    let pretty = package(work.path(), "pretty", None);
    let refused = cli.run(&["plugin", "install", pretty.to_str().unwrap()]);
    let said = refused.expect_refused("did not answer initialize within 1000 ms");
    assert!(
        said.contains("not JSON-RPC messages, the first \"{\"")
            && said.contains("is the JSON pretty-printed over several lines?")
            && said.contains("one line of JSON ended by a newline"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_print_on_stdout_is_in_the_job_log() {
    let data = temp_dir();
    let folder = package(data.path(), "stray-print", None);
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", folder.to_str().unwrap()]);
    let _host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let id = run_once(&store).await;
    wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60)).await;
    let log = log_of(&store, id).await;
    let stray = log
        .iter()
        .find(|line| line.contains("\"debug: got a run\""))
        .unwrap_or_else(|| panic!("the stray line is not in the job's log: {log:?}"));
    assert!(
        stray.contains("not a JSON-RPC message") && stray.contains("write debug output to stderr"),
        "{stray}"
    );
    store.close().await;
}

/// `plugboard plugin check ARGS…`, run here without a server.
fn plugin_check(args: &[&str]) -> crate::harness::cli::Ran {
    let home = temp_dir();
    crate::harness::cli::run_in(home.path(), &[&["plugin", "check"][..], args].concat(), &[])
}

/// The line of step `name` in a check's output.
fn step<'a>(ran: &'a crate::harness::cli::Ran, name: &str) -> &'a str {
    ran.stdout
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no step {name}: {ran:?}"))
}

#[test]
fn plugin_check_passes_a_good_plugin_and_says_what_to_fix_in_bad_ones() {
    let work = temp_dir();
    let schema = json!({
        "type": "object",
        "properties": {"greeting": {"type": "string", "default": "hello"}}
    });
    let good = package(work.path(), "ok", Some(&schema));
    let ran = plugin_check(&[good.to_str().unwrap()]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    for name in [
        "manifest",
        "handshake",
        "identity",
        "metadata",
        "ping",
        "run",
        "cancel",
        "stdout",
        "shutdown",
        "leftovers",
    ] {
        assert!(step(&ran, name).trim_start().starts_with("ok"), "{ran:?}");
    }
    assert!(
        step(&ran, "config").contains(r#"accepts the sample config {"greeting":"hello"}"#),
        "{ran:?}"
    );
    assert!(
        ran.stdout.contains("the plugin passed every check"),
        "{ran:?}"
    );
    // The plugin's own config/validate is asked: a sample it rejects fails the step.
    let rejected = plugin_check(&[
        good.to_str().unwrap(),
        "--config",
        r#"{"reject": "no sample for me"}"#,
        "--json",
    ]);
    assert_eq!(rejected.code, Some(1), "{rejected:?}");
    let report = rejected.json();
    let config = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "config")
        .unwrap();
    assert_eq!(config["verdict"], "failed", "{report}");
    assert!(
        config["detail"]
            .as_str()
            .unwrap()
            .contains("no sample for me"),
        "{report}"
    );

    // Each mistake fails its own step, with what to fix. (A process left behind is not among
    // them here: as root the plugin is PID 1 of a PID namespace, whose end kills the rest.)
    for (mode, name, says) in [
        ("stray-print", "stdout", "\"debug: got a run\""),
        ("deaf-to-ping", "ping", "did not answer `ping`"),
        ("hang-run", "run", "did not answer `run`"),
        ("wrong-id", "identity", "it says it is someone-else 1.0.0"),
        ("ignore-shutdown", "shutdown", "still running"),
    ] {
        let folder = package(work.path(), mode, None);
        let ran = plugin_check(&[folder.to_str().unwrap(), "--timeout-ms", "1500"]);
        assert_eq!(ran.code, Some(1), "{mode}: {ran:?}");
        let line = step(&ran, name);
        assert!(
            line.trim_start().starts_with("FAIL") && line.contains(says),
            "{mode}: {ran:?}"
        );
        assert!(ran.stdout.contains("failed; fix"), "{mode}: {ran:?}");
    }
    // A folder that is no package is refused as an install would refuse it.
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let ran = plugin_check(&[empty.to_str().unwrap()]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(step(&ran, "manifest").contains("no plugin.toml"), "{ran:?}");
}

#[test]
fn plugin_check_passes_every_example_as_it_is_packaged() {
    let work = temp_dir();
    let repository = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut packages: Vec<(PathBuf, Vec<&str>)> = Vec::new();
    for (name, config) in [
        ("counter-python", None),
        ("uptime-python", Some(r#"{"url": "http://127.0.0.1:9/"}"#)),
        ("github-webhook-python", Some(r#"{"secret": "s3cret"}"#)),
    ] {
        let package = crate::plugins::python_example_package(work.path(), name);
        let mut flags = Vec::new();
        if let Some(config) = config {
            flags.extend(["--config", config]);
        }
        packages.push((package, flags));
    }
    if crate::plugins::node_on_the_plugin_path().is_some() {
        let package = work.path().join("hello-node");
        crate::plugins::copy_tree(&repository.join("examples/plugins/hello-node"), &package);
        packages.push((package, Vec::new()));
    } else {
        eprintln!("SKIPPED hello-node: no node in /usr/local/bin:/usr/bin:/bin");
    }
    match crate::plugins::hello_rust_binary() {
        Some(binary) => {
            let package = work.path().join("hello-rust");
            std::fs::create_dir_all(&package).unwrap();
            std::fs::copy(
                repository.join("examples/plugins/hello-rust/plugin.toml"),
                package.join("plugin.toml"),
            )
            .unwrap();
            std::fs::copy(binary, package.join("hello-rust")).unwrap();
            packages.push((package, vec!["--config", r#"{"name": "plugboard"}"#]));
        }
        None => eprintln!(
            "SKIPPED hello-rust: build the workspace so target/<profile>/hello-rust exists"
        ),
    }
    for (package, flags) in &packages {
        let ran = plugin_check(&[&[package.to_str().unwrap()][..], flags].concat());
        assert_eq!(ran.code, Some(0), "{}: {ran:?}", package.display());
        assert!(
            !ran.stdout.contains("FAIL"),
            "{}: {ran:?}",
            package.display()
        );
    }
}

/// The id a `job enqueue` or `config run-now` printed (`7`, or `job 7 enqueued`).
fn printed_job(ran: &crate::harness::cli::Ran) -> JobId {
    let id = ran
        .stdout
        .split_whitespace()
        .find_map(|word| word.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no job id in {ran:?}"));
    JobId(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_installs_with_one_command_and_its_job_succeeds() {
    let data = temp_dir();
    let out = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let store = sqlite_store(data.path()).await;
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins");
    let example = |name: &str| examples.join(name).to_str().unwrap().to_owned();
    let install = |source: &str| {
        let ran = cli.run(&["plugin", "install", source, "--grant"]);
        assert!(
            ran.stdout.contains("install succeeded"),
            "{source}: {ran:?}"
        );
    };

    // The interpreted ones straight from their folders: their requirements are installed into
    // the package on the way.
    for name in ["counter-python", "uptime-python", "github-webhook-python"] {
        install(&example(name));
    }
    if crate::plugins::node_on_the_plugin_path().is_some() {
        install(&example("hello-node"));
    }
    // A Rust plugin is packed first: built, checked and archived with its sha256.
    let packed = cli.run(&[
        "plugin",
        "pack",
        &example("hello-rust"),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let archive = packed.expect_ok("pack hello-rust").trim().to_owned();
    assert!(archive.ends_with("hello-rust-1.0.0.tar.gz"), "{packed:?}");
    let sums = std::fs::read_to_string(format!("{archive}.sha256")).unwrap();
    let sha256 = sums.split_whitespace().next().unwrap();
    assert_eq!(
        sha256,
        crate::harness::packages::sha256(&std::fs::read(&archive).unwrap())
    );
    let ran = cli.run(&["plugin", "install", &archive, "--sha256", sha256]);
    ran.expect_ok("install the packed hello-rust");

    // One job of each succeeds.
    cli.run(&["tenant", "create", "acme"]).expect_ok("tenant");
    let mut jobs = Vec::new();
    for (plugin, payload) in [
        ("counter-python", json!({})),
        ("github-webhook", json!({})),
        ("hello-rust", json!({"name": "packed"})),
    ] {
        let body = json!({"plugin": plugin, "tenant": "acme", "payload": payload}).to_string();
        jobs.push(printed_job(&cli.run(&[
            "job",
            "enqueue",
            "plugin.run",
            &body,
        ])));
    }
    if crate::plugins::node_on_the_plugin_path().is_some() {
        let body = json!({"plugin": "hello-node", "tenant": "acme"}).to_string();
        jobs.push(printed_job(&cli.run(&[
            "job",
            "enqueue",
            "plugin.run",
            &body,
        ])));
    }
    // uptime-python checks a URL of a config: the server's own liveness probe.
    let url = format!("{}/livez", cli.url);
    let name = [
        "--tenant",
        "acme",
        "--plugin",
        "uptime-python",
        "--name",
        "self",
    ];
    cli.run(
        &[
            &["config", "set"][..],
            &name,
            &[
                "--values",
                &json!({"url": url}).to_string(),
                "--schedule",
                "none",
            ],
        ]
        .concat(),
    )
    .expect_ok("config of uptime-python");
    jobs.push(printed_job(
        &cli.run(&[&["config", "run-now"][..], &name].concat()),
    ));
    let done = wait_all(
        &store,
        &jobs,
        JobStatus::Succeeded,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(done.len(), jobs.len());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_new_writes_plugins_that_pass_their_tests_and_the_check_and_run_installed() {
    let work = temp_dir();
    // Plugins may run as users of their own: the folders must be reachable.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let home = temp_dir();
    let new = |name: &str, lang: &str| {
        let ran = crate::harness::cli::run_in(
            home.path(),
            &[
                "plugin",
                "new",
                name,
                "--lang",
                lang,
                "--dir",
                work.path().to_str().unwrap(),
            ],
            &[],
        );
        PathBuf::from(ran.expect_ok("plugin new").trim())
    };
    let mut sources: Vec<(String, String)> = Vec::new();

    let python = new("greeter-py", "python");
    let tested = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&python)
        .output()
        .unwrap();
    assert!(tested.status.success(), "{tested:?}");
    sources.push(("greeter-py".into(), python.display().to_string()));

    if crate::plugins::node_on_the_plugin_path().is_some() {
        let node = new("greeter-node", "node");
        let tested = std::process::Command::new("node")
            .arg("--test")
            .arg(node.join("main.test.js"))
            .output()
            .unwrap();
        assert!(tested.status.success(), "{tested:?}");
        sources.push(("greeter-node".into(), node.display().to_string()));
    }

    // Rust: packed first (built with the workspace's lock, so the build reuses its crates).
    let rust = new("greeter-rs", "rust");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"),
        rust.join("Cargo.lock"),
    )
    .unwrap();
    let packed = crate::harness::cli::run_in(
        home.path(),
        &[
            "plugin",
            "pack",
            rust.to_str().unwrap(),
            "--out",
            work.path().to_str().unwrap(),
        ],
        &[],
    );
    sources.push((
        "greeter-rs".into(),
        packed.expect_ok("pack the Rust plugin").trim().to_owned(),
    ));

    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let store = sqlite_store(data.path()).await;
    cli.run(&["tenant", "create", "acme"]).expect_ok("tenant");
    for (id, source) in &sources {
        let checked = plugin_check(&[source.as_str()]);
        assert_eq!(checked.code, Some(0), "{id}: {checked:?}");
        cli.run(&["plugin", "install", source])
            .expect_ok(&format!("install {id}"));
        let name = [
            "--tenant",
            "acme",
            "--plugin",
            id.as_str(),
            "--name",
            "main",
        ];
        // The plugin's own config/validate refuses a blank greeting.
        cli.run(
            &[
                &["config", "set"][..],
                &name,
                &["--values", r#"{"greeting": "  "}"#],
            ]
            .concat(),
        )
        .expect_refused("write a greeting, not only spaces");
        cli.run(
            &[
                &["config", "set"][..],
                &name,
                &["--values", r#"{"greeting": "Hi"}"#],
            ]
            .concat(),
        )
        .expect_ok("config");
        let job = printed_job(&cli.run(&[&["config", "run-now"][..], &name].concat()));
        let done = wait_all(
            &store,
            &[job],
            JobStatus::Succeeded,
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(
            done[0].result,
            Some(json!({"message": "Hi, acme!"})),
            "{id}: {done:?}"
        );
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_gives_a_tenant_none_of_what_the_process_wrote_for_another_tenant() {
    let data = temp_dir();
    let folder = package(data.path(), "ok", None);
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", folder.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let run = |tenant: &str, payload: serde_json::Value| {
        let mut job = NewJob::new(
            "plugin.run",
            json!({"plugin": "scripted", "tenant": tenant, "payload": payload}),
        );
        job.max_attempts = 1;
        // As the API enqueues it: the job is the tenant's, readable by its tokens.
        job.tenant = Some(tenant.to_owned());
        job
    };
    // Alpha's run writes something private on stderr, and succeeds.
    let alpha = store
        .job_enqueue(run("alpha", json!({"stderr": "alpha-secret-4711"})))
        .await
        .unwrap()
        .id;
    wait_all(
        &store,
        &[alpha],
        JobStatus::Succeeded,
        Duration::from_secs(60),
    )
    .await;
    // Beta's run then crashes the same process: beta learns how, not what alpha's run wrote.
    let beta = store
        .job_enqueue(run("beta", json!({"stderr": "beta-last-words", "exit": 3})))
        .await
        .unwrap()
        .id;
    let failed = wait_all(&store, &[beta], JobStatus::Failed, Duration::from_secs(60)).await;
    let error = failed[0].error.clone().unwrap_or_default();
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(error.contains("in the host's log"), "{error}");
    let log = log_of(&store, beta).await.join("\n");
    for private in ["alpha-secret-4711", "beta-last-words"] {
        assert!(!error.contains(private), "{error}");
        assert!(!log.contains(private), "{log}");
    }
    // The operator's log has them all.
    wait_for_log_line(&host, &["alpha-secret-4711"]);
    store.close().await;
}
