//! Hostile plugins through the real server running as root, as plugboard does in most
//! containers: a plugin that asks for the host's secrets gets none, cannot read the store or the
//! server's environment, and a daemon it hides outside its process group dies with its
//! instance, with the server's stop, and after a `kill -9` of the server at the next start.
//! `/api/v1/health` says truthfully what holds. Each test checks the process table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugboard::store::{JobStatus, NewJob};
use serde_json::{json, Value};

use crate::harness::{sqlite_store, temp_dir, wait_all, TestHost, FAST_LEASES};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// The scripted plugin in `root/hostile`, asking in its manifest for `permissions`.
fn hostile_package(root: &Path, permissions: &str) -> PathBuf {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted_plugin.py");
    let package = root.join("hostile");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::copy(script, package.join("scripted_plugin.py")).unwrap();
    std::fs::write(
        package.join("plugin.toml"),
        format!(
            "id = \"hostile\"\nname = \"Hostile\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"scripted_plugin.py\"]\n[permissions]\n{permissions}\n"
        ),
    )
    .unwrap();
    package
}

/// Runs one `plugin.run` of the hostile plugin with `payload` and returns its result.
async fn attack(data: &Path, payload: Value) -> Value {
    let store = sqlite_store(data).await;
    let ids = crate::harness::enqueue_all(
        &store,
        vec![NewJob::new(
            "plugin.run",
            json!({"plugin": "hostile", "tenant": "acme", "payload": payload}),
        )],
    )
    .await;
    let done = wait_all(&store, &ids, JobStatus::Succeeded, Duration::from_secs(60)).await;
    store.close().await;
    done[0].result.clone().expect("a result")
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_of_a_root_server_gets_none_of_its_secrets() {
    if !is_root() {
        eprintln!("SKIPPED a_plugin_of_a_root_server_gets_none_of_its_secrets: it attacks a server running as root; run the tests as root (CI does)");
        return;
    }
    let data = temp_dir();
    let package = hostile_package(
        data.path(),
        "env = [\"PLUGBOARD_ADMIN_TOKEN\", \"PLUGBOARD_DATABASE_URL\", \"HOSTILE_VISIBLE\"]",
    );
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package.to_str().unwrap()]);
    let secret = "an-admin-token-that-no-plugin-may-ever-read-0123456789";
    let host = TestHost::start_with_env(
        data.path(),
        &flags,
        &[
            ("PLUGBOARD_ADMIN_TOKEN", secret),
            ("HOSTILE_VISIBLE", "yes"),
        ],
    );
    let server = host.pid();
    let targets: Vec<String> = [
        format!("/proc/{server}/environ"),
        format!("/proc/{server}/maps"),
        format!("/proc/{server}/auxv"),
        data.path().join("plugboard.db").display().to_string(),
        data.path().join("secret.key").display().to_string(),
        data.path().display().to_string(),
    ]
    .into();
    let result = attack(
        data.path(),
        json!({"read": &targets, "environ": true, "identity": true}),
    )
    .await;
    for target in &targets {
        assert_eq!(
            result["reads"][target],
            json!("Permission denied"),
            "{target}: {result}"
        );
    }
    let names: Vec<&str> = result["environ"]
        .as_array()
        .expect("its environment")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"HOSTILE_VISIBLE"), "{names:?}");
    for name in &names {
        assert!(
            !name.starts_with("PLUGBOARD_")
                || ["PLUGBOARD_PLUGIN_ID", "PLUGBOARD_DATA_DIR"].contains(name),
            "plugboard's own variable {name} reached the plugin: {names:?}"
        );
    }
    assert!(
        !result.to_string().contains(secret),
        "the admin token reached the plugin: {result}"
    );
    assert_ne!(
        result["identity"]["Uid"]
            .as_str()
            .unwrap_or("0")
            .split_whitespace()
            .next(),
        Some("0"),
        "not root: {result}"
    );

    // The data directory lets plugins' users through to their folders and nothing more.
    assert_eq!(mode(data.path()), 0o711);
    assert_eq!(mode(&data.path().join("plugboard.db")), 0o600);
    assert_eq!(mode(&data.path().join("plugboard.db-wal")), 0o600);

    // What the server says holds is what held.
    let (status, body) = host.get("/api/v1/health");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    let protections = &health["checks"]["sandbox"]["protections"];
    for id in [
        "unprivileged_user",
        "capabilities",
        "rlimit.processes",
        "host_undumpable",
    ] {
        assert_eq!(protections[id], json!("in_force"), "{id}: {health}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_a_plugin_hides_dies_with_the_server_even_after_kill9() {
    let test = "a_daemon_a_plugin_hides_dies_with_the_server_even_after_kill9";
    let data = temp_dir();
    let package = hostile_package(data.path(), "");
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package.to_str().unwrap()]);

    // A graceful stop of the server takes the daemon with it.
    let host = TestHost::start(data.path(), &flags);
    if host.log().contains("cgroup per instance") && host.log().contains("PID namespace") {
        eprintln!(
            "SKIPPED {test}: this machine gives plugboard neither a cgroup tree nor PID namespaces:\n{}",
            host.log()
        );
        return;
    }
    let result = attack(data.path(), json!({"daemon": true})).await;
    let daemon: i32 = result["daemon"]
        .as_str()
        .and_then(|pid| pid.parse().ok())
        .unwrap();
    assert!(alive(daemon), "the daemon runs: {result}");
    let status = host.terminate();
    assert!(status.success(), "{status}");
    wait_gone(daemon, "a daemon after the server's stop");

    // After kill -9 of the server, the kernel ends the daemon's PID namespace with it; where
    // there is none, the next start sweeps what was left.
    let host = TestHost::start(data.path(), &flags);
    let pid_namespace = !host.log().contains("PID namespace");
    let result = attack(data.path(), json!({"daemon": true})).await;
    let daemon: i32 = result["daemon"]
        .as_str()
        .and_then(|pid| pid.parse().ok())
        .unwrap();
    assert!(alive(daemon), "the daemon runs: {result}");
    host.kill9();
    if pid_namespace {
        wait_gone(daemon, "a daemon of a server killed with kill -9");
    } else {
        eprintln!("{test}: no PID namespace here, so the next start sweeps the daemon");
        let host = TestHost::start(data.path(), &flags);
        wait_gone(daemon, "a daemon of a killed server after the next start");
        drop(host);
    }
}

/// The server as `nobody`, from a copy of the binary that user may execute, on a data directory
/// of its own.
fn start_as_nobody(root: &Path, package: &Path) -> TestHost {
    use std::os::unix::process::CommandExt;
    let binary = root.join("plugboard");
    if std::fs::hard_link(crate::harness::BINARY, &binary).is_err() {
        std::fs::copy(crate::harness::BINARY, &binary).unwrap();
    }
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).unwrap();
    let mut command = std::process::Command::new(&binary);
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .uid(NOBODY)
        .gid(NOBODY);
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin", package.to_str().unwrap()]);
    TestHost::start_from(command, &data, &flags, &[])
}

/// Runs one `plugin.run` of the hostile plugin over the API of `host` and returns its result.
async fn attack_over_api(host: &TestHost, payload: Value) -> Value {
    let client = reqwest::Client::new();
    let body = json!({"kind": "plugin.run", "payload": {"plugin": "hostile", "tenant": "acme", "payload": payload}});
    let text = client
        .post(format!("http://{}/api/v1/jobs", host.address))
        .bearer_auth(&host.admin_token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .expect("a job");
    let created: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
    let id = created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a job id in {created}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = host.get(&format!("/api/v1/jobs/{id}"));
        assert_eq!(status, 200, "{text}");
        let job: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        match job["status"].as_str() {
            Some("succeeded") => return job["result"].clone(),
            Some("failed" | "cancelled") => panic!("{job}\n{}", host.log()),
            _ => {}
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const NOBODY: u32 = 65534;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_of_an_unprivileged_server_is_confined_in_a_user_namespace() {
    let test = "a_plugin_of_an_unprivileged_server_is_confined_in_a_user_namespace";
    if !is_root() {
        eprintln!("SKIPPED {test}: the test starts the server as nobody, which needs root");
        return;
    }
    let root = temp_dir();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let package = hostile_package(root.path(), "");
    let server = start_as_nobody(root.path(), &package);
    if server.log().contains("network and IPC namespaces") {
        eprintln!(
            "SKIPPED {test}: the kernel gives this user no user namespace:\n{}",
            server.log()
        );
        return;
    }
    let environ = format!("/proc/{}/environ", server.pid());
    let result = attack_over_api(
        &server,
        json!({"identity": true, "read": [&environ], "socket": ["udp:127.0.0.1:9", "packet"]}),
    )
    .await;
    let status = &result["identity"];
    assert!(
        status["Uid"]
            .as_str()
            .is_some_and(|uid| uid.starts_with(&NOBODY.to_string())),
        "the server's own user: {result}"
    );
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status[key], json!("0000000000000000"), "{key}: {result}");
    }
    assert_eq!(status["Seccomp"], json!("2"), "{result}");
    assert_ne!(
        status["netns"],
        json!(std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .display()
            .to_string()),
        "a network namespace of its own: {result}"
    );
    assert_eq!(
        result["reads"][&environ],
        json!("Permission denied"),
        "the server is the same user, and still closed: {result}"
    );
    for socket in ["udp:127.0.0.1:9", "packet"] {
        assert_eq!(
            result["sockets"][socket],
            json!("Permission denied"),
            "{result}"
        );
    }
}
