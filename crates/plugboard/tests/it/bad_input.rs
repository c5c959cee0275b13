//! Bad input through the real binary: each gives a clear error that says what to do, and
//! nothing already stored is lost.

use std::time::Instant;

use crate::harness::{plugboard, temp_dir, TestHost};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_fails_with(args: &[&str], expected: &str) {
    let output = plugboard(args);
    let stderr = stderr_of(&output);
    assert!(
        !output.status.success(),
        "`plugboard {}` should fail",
        args.join(" ")
    );
    assert!(
        stderr.contains(expected),
        "`plugboard {}` should say {expected:?}; it said:\n{stderr}",
        args.join(" ")
    );
}

#[test]
fn bad_jobs_are_refused_and_stored_jobs_survive() {
    let data = temp_dir();
    let dir = data.path().to_str().unwrap();
    let host = TestHost::start(data.path(), &[]);
    let kept = plugboard(&[
        "job",
        "enqueue",
        "noop",
        r#"{"keep": 1}"#,
        "--delay-ms",
        "3600000",
        "--data-dir",
        dir,
    ]);
    assert!(kept.status.success(), "{}", stderr_of(&kept));
    assert_eq!(String::from_utf8_lossy(&kept.stdout).trim(), "1");

    assert_fails_with(
        &["job", "enqueue", "frobnicate", "--data-dir", dir],
        "unknown job kind `frobnicate`; this plugboard runs: noop",
    );
    assert_fails_with(
        &["job", "enqueue", "noop", "{oops", "--data-dir", dir],
        "the payload is not valid JSON: key must be a string at line 1 column 2",
    );
    assert_fails_with(
        &[
            "job",
            "enqueue",
            "noop",
            r#"{"sleep_ms": "soon"}"#,
            "--data-dir",
            dir,
        ],
        "`sleep_ms` must be a whole number of milliseconds",
    );
    assert_fails_with(
        &[
            "job",
            "enqueue",
            "noop",
            "--max-attempts",
            "0",
            "--data-dir",
            dir,
        ],
        "invalid max_attempts: 0 is out of range; use 1 to 1000",
    );
    assert_fails_with(
        &["job", "show", "999", "--data-dir", dir],
        "job 999 does not exist",
    );
    assert_fails_with(
        &["job", "retry", "1", "--data-dir", dir],
        "job 1 is queued; only failed or cancelled jobs can be retried",
    );

    let listed = plugboard(&["job", "list", "--json", "--data-dir", dir]);
    assert!(listed.status.success());
    let page: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let jobs = page["jobs"].as_array().expect("a page of jobs");
    assert_eq!(jobs.len(), 1, "refused requests added nothing");
    assert_eq!(jobs[0]["payload"], serde_json::json!({"keep": 1}));
    assert!(host.terminate().success());
}

#[test]
fn unreachable_or_malformed_database_urls_fail_fast_and_clearly() {
    let data = temp_dir();
    let dir = data.path().to_str().unwrap();
    let started = Instant::now();
    assert_fails_with(
        &[
            "serve",
            "--data-dir",
            dir,
            "--database-url",
            "postgres://plugboard@127.0.0.1:1/nothing",
        ],
        "cannot connect to PostgreSQL at postgres://plugboard@127.0.0.1:1/nothing",
    );
    assert!(
        started.elapsed().as_secs() < 60,
        "an unreachable database is reported, not waited for forever"
    );
    assert_fails_with(
        &["serve", "--data-dir", dir, "--database-url", "not a url"],
        "cannot connect to PostgreSQL at not a url",
    );
    let secret = plugboard(&[
        "serve",
        "--data-dir",
        dir,
        "--database-url",
        "postgres://me:hunter2@127.0.0.1:1/db",
    ]);
    assert!(
        !stderr_of(&secret).contains("hunter2"),
        "passwords never reach the output: {}",
        stderr_of(&secret)
    );
}

#[test]
fn unusable_data_directories_and_config_files_are_explained() {
    let data = temp_dir();
    let file = data.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let below_file = file.join("data");
    assert_fails_with(
        &["serve", "--data-dir", below_file.to_str().unwrap()],
        "cannot create the data directory",
    );

    let garbage = temp_dir();
    std::fs::write(garbage.path().join("plugboard.db"), vec![b'x'; 8192]).unwrap();
    assert_fails_with(
        &["serve", "--data-dir", garbage.path().to_str().unwrap()],
        "is not an SQLite database",
    );
    assert_eq!(
        std::fs::read(garbage.path().join("plugboard.db")).unwrap(),
        vec![b'x'; 8192],
        "the foreign file is left as it was"
    );

    let typo = temp_dir();
    std::fs::write(
        typo.path().join("plugboard.toml"),
        "lease_ms = 9000\n\nleese_ms = 3\n",
    )
    .unwrap();
    assert_fails_with(
        &["serve", "--data-dir", typo.path().to_str().unwrap()],
        "plugboard.toml, line 3: unknown field `leese_ms`",
    );
}
