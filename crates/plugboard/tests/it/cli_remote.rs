//! `plugboard job …` with `--url`: the CLI as a client of a running server's API.

use std::process::{Command, Stdio};

use serde_json::Value;

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
