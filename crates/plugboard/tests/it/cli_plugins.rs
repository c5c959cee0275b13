//! `plugboard plugin …` over the API: packages on the CLI's machine are uploaded (an archive as
//! it is, a folder packed first) and installed by a real server; the job is followed to its end;
//! a broken package ends with exit 1 and the job's error; an upload over the size cap is refused
//! with 413 and leaves nothing in staging; uploads are gone once their job has ended.

use std::path::Path;

use crate::harness::cli::Cli;
use crate::harness::packages::{scripted_package, tar_gz};
use crate::harness::{temp_dir, TestHost, FAST_LEASES};

/// What is left in the server's uploads folder.
fn uploads_left(data_dir: &Path) -> Vec<String> {
    match std::fs::read_dir(data_dir.join("plugins/.staging/uploads")) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn archives_and_folders_on_this_machine_are_uploaded_and_installed() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let archive = work.path().join("scripted-1.0.0.tar.gz");
    std::fs::write(
        &archive,
        tar_gz(&scripted_package(work.path(), "1.0.0", "ok")),
    )
    .unwrap();

    // An archive, with its checksum; stderr is no terminal here, so the progress is plain lines.
    let sha256 = crate::harness::packages::sha256(&std::fs::read(&archive).unwrap());
    let out = cli.run(&[
        "plugin",
        "install",
        archive.to_str().unwrap(),
        "--sha256",
        &sha256,
    ]);
    assert_eq!(
        out.expect_ok("install").trim(),
        "scripted 1.0.0: install succeeded",
        "{out:?}"
    );
    for step in ["uploading", "sha256 matches", "unpacking", "switched"] {
        assert!(out.stderr.contains(step), "no `{step}` in {out:?}");
    }
    assert!(
        !out.stderr.contains('\u{1b}'),
        "no bar nor colours when stderr is not a terminal: {out:?}"
    );
    assert_eq!(uploads_left(data.path()), Vec::<String>::new());
    assert!(data
        .path()
        .join("plugins/scripted/1.0.0/plugin.toml")
        .is_file());

    // A folder: packed here, uploaded, installed as an update; --json prints the job.
    let folder = scripted_package(work.path(), "1.1.0", "ok");
    let job = cli
        .run(&[
            "plugin",
            "update",
            "scripted",
            folder.to_str().unwrap(),
            "--json",
        ])
        .json();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "plugin.update");
    assert_eq!(job["result"]["version"], "1.1.0", "{job}");
    assert_eq!(uploads_left(data.path()), Vec::<String>::new());

    // list and show, as tables and as the API's JSON.
    let list = cli.run(&["plugin", "list", "--json"]).json();
    assert_eq!(list["plugins"][0]["id"], "scripted", "{list}");
    assert_eq!(list["plugins"][0]["active_version"], "1.1.0");
    let table = cli.run(&["plugin", "list"]);
    assert!(table.expect_ok("list").contains("1.0.0"), "{table:?}");
    let shown = cli.run(&["plugin", "show", "scripted", "--json"]).json();
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2, "{shown}");
    cli.run(&["plugin", "show", "nope"])
        .expect_refused("HTTP 404");

    // Rollback, disable and enable follow their jobs too.
    cli.run(&["plugin", "rollback", "scripted"])
        .expect_ok("rollback");
    cli.run(&["plugin", "disable", "scripted"])
        .expect_ok("disable");
    cli.run(&["plugin", "enable", "scripted"])
        .expect_ok("enable");
    let no_wait = cli.run(&["plugin", "refresh-metadata", "scripted", "--no-wait"]);
    assert!(no_wait
        .expect_ok("refresh-metadata")
        .trim()
        .parse::<i64>()
        .is_ok());

    // Bad input: the problem's field; a token that may not upload; a wrong token.
    cli.run(&[
        "plugin",
        "install",
        archive.to_str().unwrap(),
        "--sha256",
        "abc",
    ])
    .expect_refused("sha256: must be 64 hex digits");
    cli.run(&["plugin", "install", "./no/such/package.tar.gz"])
        .expect_refused("does not exist on this machine");
    let writer = cli
        .run(&["token", "create", "writer", "--access", "write", "--json"])
        .json();
    cli.run_as(
        writer["secret"].as_str().unwrap(),
        &["plugin", "install", archive.to_str().unwrap()],
    )
    .expect_refused("only the admin token");
    cli.run_as(
        "pb_wrong-token-that-is-long-enough-0000",
        &["plugin", "list"],
    )
    .expect_refused("HTTP 401");
    assert_eq!(uploads_left(data.path()), Vec::<String>::new());

    cli.run(&["plugin", "uninstall", "scripted"])
        .expect_ok("uninstall");
    assert!(host.terminate().success());
}

#[test]
fn a_broken_package_ends_with_exit_1_and_the_jobs_error() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let broken = work.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("main.py"), "pass\n").unwrap();
    let out = cli.run(&["plugin", "install", broken.to_str().unwrap()]);
    let said = out.expect_refused(
        "failed, and this error is not retried: the package has no plugin.toml at its root",
    );
    // Said once, by the attempt's line; the end names the job only.
    assert_eq!(said.matches("no plugin.toml").count(), 1, "{out:?}");
    assert!(said.trim_end().ends_with("job 1 failed"), "{out:?}");
    assert_eq!(uploads_left(data.path()), Vec::<String>::new());
    assert!(host.terminate().success());
}

#[test]
fn an_upload_over_the_size_cap_is_refused_with_413_and_leaves_nothing() {
    let data = temp_dir();
    let work = temp_dir();
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--package-max-mb", "1"]);
    let host = TestHost::start(data.path(), &flags);
    let cli = Cli::new(&host);
    // 2 MiB that do not compress: over the cap of 1 MiB however they are sent.
    let large = work.path().join("large.tar.gz");
    let bytes: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&large, bytes).unwrap();
    let out = cli.run(&["plugin", "install", large.to_str().unwrap()]);
    out.expect_refused("HTTP 413");
    out.expect_refused("package limit of 1048576 bytes");
    assert_eq!(uploads_left(data.path()), Vec::<String>::new());
    let jobs = cli.run(&["job", "list", "--json"]).json();
    assert_eq!(jobs["jobs"], serde_json::json!([]), "no job was enqueued");
    assert!(host.terminate().success());
}

#[test]
fn uploads_a_stopped_server_left_are_removed_when_it_starts() {
    let data = temp_dir();
    let leftover = data
        .path()
        .join("plugins/.staging/uploads/upload-left-by-a-crash");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, "part of a package").unwrap();
    let host = TestHost::start(data.path(), FAST_LEASES);
    assert!(!leftover.exists(), "reconcile empties the staging folder");
    assert_eq!(uploads_left(data.path()), Vec::<String>::new());
    assert!(host.terminate().success());
}
