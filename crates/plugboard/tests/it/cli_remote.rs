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
