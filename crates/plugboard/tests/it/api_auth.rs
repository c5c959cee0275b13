//! The admin token of `plugboard serve`: taken from `PLUGBOARD_ADMIN_TOKEN` (refused when
//! short), or made on the first start and kept in the data directory with mode 0600.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::harness::{temp_dir, TestHost, BINARY};

#[test]
fn a_short_admin_token_is_refused_at_start() {
    let data = temp_dir();
    let output = Command::new(BINARY)
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("PLUGBOARD_DATABASE_URL")
        .env("PLUGBOARD_ADMIN_TOKEN", "too-short")
        .stdin(Stdio::null())
        .output()
        .expect("the plugboard binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PLUGBOARD_ADMIN_TOKEN has 9 characters and must have at least 32"),
        "{stderr}"
    );
}

#[test]
fn serve_makes_an_admin_token_once_and_keeps_it_private() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), &[]);
    let file = data.path().join("admin-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only this user reads the admin token");
    assert!(host.admin_token.len() >= 32);
    assert!(
        host.log().contains(&file.display().to_string()),
        "serve says where the token is:\n{}",
        host.log()
    );
    let (status, body) = host.get("/api/v1/jobs");
    assert_eq!(status, 200, "{body}");
    let first = host.admin_token.clone();
    assert!(host.terminate().success());
    let host = TestHost::start(data.path(), &[]);
    assert_eq!(host.admin_token, first, "a restart keeps the same token");
    assert!(host.terminate().success());
}
