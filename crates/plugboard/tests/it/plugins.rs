//! Plugins through the real server: a `plugin.run` job reaches a warm plugin process and its
//! logs and result land in the store; a hung run times out and its instance is replaced; a
//! cancel of an unresponsive run ends it; `kill -9` of the server leaves no plugin behind; the
//! example plugins run confined, each from a package that holds what it reads.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugboard::store::{JobStatus, NewJob};
use serde_json::json;

use crate::harness::{sqlite_store, temp_dir, wait_all, TestHost, FAST_LEASES};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scripted_package(root: &Path, mode: &str) -> PathBuf {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted_plugin.py");
    let package = root.join(format!("scripted-{mode}"));
    std::fs::create_dir_all(&package).unwrap();
    // In the package: the plugin may read nothing else of the test's files.
    std::fs::copy(script, package.join("scripted_plugin.py")).unwrap();
    std::fs::write(
        package.join("plugin.toml"),
        format!(
            "id = \"scripted\"\nname = \"Scripted\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"scripted_plugin.py\"]\n[env]\nPLUGBOARD_TEST_MODE = {mode:?}\n"
        ),
    )
    .unwrap();
    package
}

/// Copies the folder `from` to `to`, without Python's `__pycache__`.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A Python example as `plugboard plugin pack` ships it: its folder with the Python SDK inside
/// (`.deps/python/plugboard/`, its `requirements.txt` installed). The
/// examples find `../../../sdk/python` only when run by hand: a confined plugin reads nothing
/// outside its package but its interpreter, the system and what its manifest declares.
pub(crate) fn python_example_package(root: &Path, name: &str) -> PathBuf {
    let package = root.join(name);
    copy_tree(&repository().join("examples/plugins").join(name), &package);
    // Where `plugboard plugin pack` puts the dependencies of `requirements.txt`.
    copy_tree(
        &repository().join("sdk/python/plugboard"),
        &package.join(".deps/python/plugboard"),
    );
    package
}

fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "plugin process {pid} outlived its host or instance"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ready_pids(host: &TestHost) -> Vec<i64> {
    host.log()
        .lines()
        .filter(|line| line.contains("plugin ready"))
        .filter_map(|line| {
            line.split("pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn wait_for_ready_count(host: &TestHost, count: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pids = ready_pids(host);
        if pids.len() >= count {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "only {} plugin instances became ready:\n{}",
            pids.len(),
            host.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_job_runs_in_a_warm_process_and_kill9_of_the_host_leaves_no_plugin() {
    let data = temp_dir();
    let package = scripted_package(data.path(), "ok");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let jobs = (0..5)
        .map(|i| {
            NewJob::new(
                "plugin.run",
                json!({"plugin": "scripted", "tenant": "acme", "payload": {"i": i}}),
            )
        })
        .collect();
    let ids: Vec<_> = crate::harness::enqueue_all(&store, jobs).await;
    let done = wait_all(&store, &ids, JobStatus::Succeeded, Duration::from_secs(60)).await;
    let pids: std::collections::HashSet<i64> = done
        .iter()
        .map(|job| job.result.as_ref().unwrap()["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "one warm process ran every job, not one spawn per job"
    );
    for (i, job) in done.iter().enumerate() {
        assert_eq!(job.result.as_ref().unwrap()["payload"], json!({"i": i}));
        let logs = store.log_list(job.id, 0, 10).await.unwrap();
        assert_eq!(
            logs.iter()
                .map(|line| line.message.as_str())
                .collect::<Vec<_>>(),
            vec!["ran"],
            "the plugin's log line is the job's"
        );
    }
    let cached = store
        .plugin_metadata_get("scripted")
        .await
        .unwrap()
        .expect("the handshake's metadata is cached");
    assert_eq!(cached.state, plugboard::store::MetadataState::Fresh);
    assert_eq!(cached.metadata.unwrap()["events"], json!(["test.*"]));
    assert_eq!(cached.checksum.len(), 64, "a sha256 of the package");
    store.close().await;
    let pid = *pids.iter().next().unwrap();
    assert!(alive(pid));
    host.kill9();
    wait_gone(pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_plugin_job_times_out_and_its_instance_is_replaced() {
    let data = temp_dir();
    let package = scripted_package(data.path(), "hang-run");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend([
        "--plugin",
        package.to_str().unwrap(),
        "--cancel-grace-ms",
        "200",
    ]);
    let host = TestHost::start(data.path(), &flags);
    let first = wait_for_ready_count(&host, 1)[0];
    let store = sqlite_store(data.path()).await;
    let mut job = NewJob::new("plugin.run", json!({"plugin": "scripted"}));
    job.timeout_ms = Some(300);
    job.max_attempts = 1;
    let timed_out = store.job_enqueue(job).await.unwrap().id;
    let failed = wait_all(
        &store,
        &[timed_out],
        JobStatus::Failed,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("timed out after 300 ms"),
        "{:?}",
        failed[0].error
    );
    wait_gone(first);
    let second = wait_for_ready_count(&host, 2)[1];
    assert_ne!(first, second);

    // A cancel the plugin ignores ends the job after the grace period, and replaces the instance.
    let stuck = store
        .job_enqueue(NewJob::new("plugin.run", json!({"plugin": "scripted"})))
        .await
        .unwrap()
        .id;
    wait_all(
        &store,
        &[stuck],
        JobStatus::Running,
        Duration::from_secs(30),
    )
    .await;
    store.job_cancel(stuck).await.unwrap();
    let cancelled = wait_all(
        &store,
        &[stuck],
        JobStatus::Cancelled,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        cancelled[0]
            .error
            .as_deref()
            .unwrap()
            .contains("grace period"),
        "{:?}",
        cancelled[0].error
    );
    wait_gone(second);
    store.close().await;
    assert!(host.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_manifest_stops_the_start_with_the_line_and_field() {
    let data = temp_dir();
    let package = data.path().join("broken");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("plugin.toml"), "id = \"broken\"\nname = \"Broken\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"true\"]\ninstances = 1\nconcurrency = \"many\"\n").unwrap();
    let output = crate::harness::plugboard(&[
        "serve",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--plugin",
        package.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("plugin.toml, line 7"), "{stderr}");
    assert!(stderr.contains("concurrency"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_counter_example_keeps_its_count_in_the_store_across_restarts() {
    let data = temp_dir();
    let example = python_example_package(data.path(), "counter-python");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", example.to_str().unwrap()]);
    let store = {
        let host = TestHost::start(data.path(), &flags);
        let store = sqlite_store(data.path()).await;
        for expected in 1..=2 {
            let id = store
                .job_enqueue(NewJob::new(
                    "plugin.run",
                    json!({"plugin": "counter-python", "tenant": "acme"}),
                ))
                .await
                .unwrap()
                .id;
            let job = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60))
                .await
                .remove(0);
            assert_eq!(job.result, Some(json!({"count": expected})), "{job:?}");
            let logs = store.log_list(id, 0, 10).await.unwrap();
            assert!(
                logs.iter().any(|line| line
                    .message
                    .starts_with(&format!("run {expected} for tenant acme"))),
                "{logs:?}"
            );
        }
        assert!(host.terminate().success());
        store
    };
    // The count lives in the store, not in the process: a new server goes on from it.
    let host = TestHost::start(data.path(), &flags);
    let id = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "counter-python", "tenant": "acme"}),
        ))
        .await
        .unwrap()
        .id;
    let job = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!(job.result, Some(json!({"count": 3})));
    let other = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "counter-python", "tenant": "globex"}),
        ))
        .await
        .unwrap()
        .id;
    let job = wait_all(
        &store,
        &[other],
        JobStatus::Succeeded,
        Duration::from_secs(60),
    )
    .await
    .remove(0);
    assert_eq!(
        job.result,
        Some(json!({"count": 1})),
        "each tenant has its own count"
    );
    store.close().await;
    assert!(host.terminate().success());
}

/// The `hello-rust` example binary next to this test's own build, if the workspace built it.
pub(crate) fn hello_rust_binary() -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?;
    let profile_dir = deps.parent()?.parent()?;
    let binary = profile_dir.join("hello-rust");
    binary.is_file().then_some(binary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_example_greets_through_the_real_host() {
    let Some(binary) = hello_rust_binary() else {
        eprintln!("SKIPPED the_rust_example_greets_through_the_real_host: build the workspace (cargo build --workspace) so target/<profile>/hello-rust exists");
        return;
    };
    let data = temp_dir();
    let package = data.path().join("hello-rust");
    std::fs::create_dir_all(&package).unwrap();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plugins/hello-rust/plugin.toml");
    std::fs::copy(example, package.join("plugin.toml")).unwrap();
    std::fs::copy(&binary, package.join("hello-rust")).unwrap();
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let config = json!({"id": "1", "name": "default", "values": {"name": "plugboard"}});
    let id = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "hello-rust", "tenant": "acme", "config": config}),
        ))
        .await
        .unwrap()
        .id;
    let job = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!(job.result, Some(json!({"greeting": "hello, plugboard"})));
    let logs = store.log_list(id, 0, 10).await.unwrap();
    assert!(
        logs.iter()
            .any(|line| line.message.contains("hello, plugboard")),
        "{logs:?}"
    );
    let scope = plugboard::store::KvScope {
        plugin: "hello-rust".into(),
        tenant: Some("acme".into()),
    };
    assert!(
        store.kv_get(&scope, "greetings").await.unwrap().is_some(),
        "the count is in the host's kv store"
    );
    store.close().await;
    assert!(host.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_uptime_example_checks_a_url_with_its_network_permission() {
    let data = temp_dir();
    let example = python_example_package(data.path(), "uptime-python");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", example.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let url = format!("http://{}/livez", host.address);
    let config = json!({"id": "1", "name": "self", "values": {"url": url}});
    let id = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "uptime-python", "tenant": "acme", "config": config}),
        ))
        .await
        .unwrap()
        .id;
    let job = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60))
        .await
        .remove(0);
    let result = job.result.expect("a result");
    assert_eq!(result["up"], json!(true), "{result}");
    assert_eq!(result["status"], json!(200), "{result}");
    store.close().await;
    assert!(host.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_config_gets_the_plugins_default_schedule_unless_it_sets_its_own() {
    let data = temp_dir();
    // uptime-python's metadata says `"schedule": {"intervalSeconds": 60}`.
    let example = python_example_package(data.path(), "uptime-python");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", example.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let cli = crate::harness::cli::Cli::new(&host);
    cli.run(&["tenant", "create", "acme"])
        .expect_ok("tenant create");
    let set = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "config",
            "set",
            "--tenant",
            "acme",
            "--plugin",
            "uptime-python",
            "--name",
            name,
            "--values",
            r#"{"url": "http://127.0.0.1:9/"}"#,
            "--json",
        ];
        args.extend_from_slice(extra);
        // The schema and the default come with the plugin's first handshake.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ran = cli.run(&args);
            if ran.ok() || Instant::now() > deadline {
                return ran.json();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let defaulted = set("defaulted", &[]);
    assert_eq!(
        defaulted["schedule"]["interval_seconds"],
        json!(60),
        "{defaulted}"
    );
    assert_eq!(
        defaulted["next_fires"].as_array().map(Vec::len),
        Some(5),
        "{defaulted}"
    );
    let none = set("unscheduled", &["--schedule", "none"]);
    assert_eq!(none["schedule"], json!(null), "{none}");
    // Either spelling of the interval, the metadata's or the config's, is one schedule.
    let camel = set("camel", &["--schedule", r#"{"intervalSeconds": 120}"#]);
    assert_eq!(camel["schedule"]["interval_seconds"], json!(120), "{camel}");
    assert!(
        camel["schedule"].get("intervalSeconds").is_none(),
        "{camel}"
    );
    assert!(host.terminate().success());
}

/// `node` where the host looks for it, if it is installed.
pub(crate) fn node_on_the_plugin_path() -> Option<PathBuf> {
    ["/usr/local/bin/node", "/usr/bin/node", "/bin/node"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_example_runs_confined_through_the_real_host() {
    if node_on_the_plugin_path().is_none() {
        eprintln!("SKIPPED the_node_example_runs_confined_through_the_real_host: no node in /usr/local/bin:/usr/bin:/bin");
        return;
    }
    let data = temp_dir();
    // Self-contained: a copy of the folder in the checkout runs as it is (the checkout itself
    // may lie where the plugin's own user cannot reach).
    let example = data.path().join("hello-node");
    copy_tree(&repository().join("examples/plugins/hello-node"), &example);
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", example.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let id = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "hello-node", "tenant": "acme"}),
        ))
        .await
        .unwrap()
        .id;
    let job = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(60))
        .await
        .remove(0);
    assert_eq!(job.result, Some(json!({"runs": 1})), "{job:?}");
    store.close().await;
    assert!(host.terminate().success());
}

/// A Python SDK plugin whose runs wait a minute unless told to stop.
fn sleeper_package(root: &Path) -> PathBuf {
    let package = root.join("sleeper");
    copy_tree(
        &repository().join("sdk/python/plugboard"),
        &package.join("plugboard"),
    );
    std::fs::write(
        package.join("plugin.toml"),
        "id = \"sleeper\"\nname = \"Sleeper\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\nconcurrency = 4\n",
    )
    .unwrap();
    std::fs::write(
        package.join("main.py"),
        r#"import plugboard


class Sleeper(plugboard.Plugin):
    id = "sleeper"
    name = "Sleeper"
    version = "1.0.0"

    async def run(self, ctx, params):
        ctx.info("going to sleep")
        await ctx.sleep(60)
        return {"slept": True}


plugboard.serve(Sleeper())
"#,
    )
    .unwrap();
    package
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_timeout_reach_an_sdk_plugin_that_stops_and_keeps_its_instance() {
    let data = temp_dir();
    let package = sleeper_package(data.path());
    let mut flags = FAST_LEASES.to_vec();
    // A grace period far longer than the test waits: the plugin must stop by itself.
    flags.extend([
        "--plugin",
        package.to_str().unwrap(),
        "--cancel-grace-ms",
        "60000",
    ]);
    let host = TestHost::start(data.path(), &flags);
    let pid = wait_for_ready_count(&host, 1)[0];
    let store = sqlite_store(data.path()).await;

    let sleeping = store
        .job_enqueue(NewJob::new("plugin.run", json!({"plugin": "sleeper"})))
        .await
        .unwrap()
        .id;
    let running = wait_all(
        &store,
        &[sleeping],
        JobStatus::Running,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(running[0].status, JobStatus::Running);
    // The run has started in the plugin once its first log line is stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.log_list(sleeping, 0, 10).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the run never logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.job_cancel(sleeping).await.unwrap();
    let cancelled = wait_all(
        &store,
        &[sleeping],
        JobStatus::Cancelled,
        Duration::from_secs(30),
    )
    .await;
    let error = cancelled[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("the job was cancelled") && !error.contains("grace period"),
        "the plugin answered the cancel itself: {error}"
    );
    // The SDK's answer, `cancelled: <the host's reason>`, is the job's error as it is.
    assert!(
        error.starts_with("cancelled: ") && !error.contains("cancelled: cancelled"),
        "said once: {error}"
    );

    let mut job = NewJob::new("plugin.run", json!({"plugin": "sleeper"}));
    job.timeout_ms = Some(500);
    job.max_attempts = 1;
    let late = store.job_enqueue(job).await.unwrap().id;
    let failed = wait_all(&store, &[late], JobStatus::Failed, Duration::from_secs(30)).await;
    let error = failed[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("timed out after 500 ms") && !error.contains("grace period"),
        "told of its timeout, the plugin stopped by itself: {error}"
    );

    // Both runs stopped when told: the instance was trusted with the next one.
    assert_eq!(ready_pids(&host), vec![pid], "{}", host.log());
    assert!(alive(pid));
    store.close().await;
    assert!(host.terminate().success());
    wait_gone(pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_line_of_a_megabyte_is_cut_with_a_note() {
    let data = temp_dir();
    let package = scripted_package(data.path(), "ok");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package.to_str().unwrap()]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;
    let id = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "scripted", "payload": {"log_bytes": 1_000_000}}),
        ))
        .await
        .unwrap()
        .id;
    wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(30)).await;
    let lines = store.log_list(id, 0, 10).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].message.starts_with("yyyy"));
    assert!(
        lines[0].message.len() < 70 * 1024
            && lines[0]
                .message
                .ends_with("[plugboard: 934464 more bytes of this line were cut]"),
        "{}",
        &lines[0].message[lines[0].message.len().saturating_sub(100)..]
    );
    assert_eq!(lines[1].message, "ran");
    store.close().await;
    assert!(host.terminate().success());
}
