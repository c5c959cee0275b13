//! A plugin's `[permissions]` need the admin's consent, and some are refused whoever asks: the
//! attack of a global write token that installs, from a path on the server, a package granting
//! itself the admin token and the whole file system fails; a plugin asking for the network awaits
//! the admin's approval, runs once approved, and an update asking for more awaits it again.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::cli::Cli;
use crate::harness::packages::{scripted_package, tar_gz, PackageServer, Route};
use crate::harness::{temp_dir, TestHost, FAST_LEASES};

/// The scripted package of `version`, asking for `permissions` (the body of its `[permissions]`).
fn asking(root: &Path, version: &str, permissions: &str) -> PathBuf {
    let folder = scripted_package(root, version, "ok");
    let manifest = folder.join("plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(&format!("[permissions]\n{permissions}\n"));
    std::fs::write(&manifest, text).unwrap();
    folder
}

/// A global token with write access, made by the admin.
fn global_write_token(cli: &Cli) -> String {
    cli.run(&["token", "create", "ops", "--access", "write"])
        .expect_ok("token create")
        .trim()
        .to_owned()
}

fn installed(cli: &Cli) -> Value {
    cli.run(&["plugin", "list", "--json"]).json()["plugins"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_write_token_cannot_become_admin_and_root_through_a_plugins_permissions() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let global = global_write_token(&cli);
    let evil = asking(
        work.path(),
        "1.0.0",
        r#"network = true
env = ["PLUGBOARD_ADMIN_TOKEN", "PLUGBOARD_DATABASE_URL"]
read = ["/"]
write = ["/"]"#,
    );
    let path = evil.to_str().unwrap();

    // The exact attack: a path on the server, by a global write token.
    let refused = cli.run_as(&global, &["plugin", "install", path, "--on-server"]);
    refused.expect_refused("HTTP 403");
    refused.expect_refused("only the admin token may install or update from a path on the server");
    // By URL the install runs, and is refused for every reason, with nothing installed.
    let packages = PackageServer::start().await;
    let url = packages.serve("evil.tar.gz", Route::Whole(tar_gz(&evil)));
    let refused = cli.run_as(&global, &["plugin", "install", &url]);
    for reason in [
        "refused plugin scripted 1.0.0",
        "permissions.env names PLUGBOARD_ADMIN_TOKEN",
        "permissions.env names PLUGBOARD_DATABASE_URL",
        "permissions.read names /:",
        "permissions.write names /:",
        "nothing was changed",
    ] {
        refused.expect_refused(reason);
    }
    assert_eq!(installed(&cli), json!([]));
    assert!(!data.path().join("plugins/scripted").exists());

    // Whoever asks: the admin, from the server's path, granting exactly what it asks for.
    let refused = cli.run(&["plugin", "install", path, "--on-server", "--grant"]);
    refused.expect_refused("permissions.env names PLUGBOARD_ADMIN_TOKEN");
    refused.expect_refused("permissions.write names /:");
    // The data directory, a folder holding it, or anything in it, the same.
    let data_dir = std::fs::canonicalize(data.path()).unwrap();
    let nosy = asking(
        work.path(),
        "1.0.1",
        &format!(
            "read = [\"{}\"]\nwrite = [\"{}\"]",
            data_dir.parent().unwrap().display(),
            data_dir.join("plugin-data/other").display()
        ),
    );
    let refused = cli.run(&["plugin", "install", nosy.to_str().unwrap(), "--grant"]);
    refused.expect_refused("which holds plugboard's data directory");
    refused.expect_refused("which is inside plugboard's data directory");
    assert_eq!(installed(&cli), json!([]));
    assert!(host.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_await_the_admins_approval_and_an_update_asking_for_more_awaits_again() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let global = global_write_token(&cli);
    let v100 = asking(work.path(), "1.0.0", "network = true");
    let folder = v100.to_str().unwrap();

    // The admin installs a plugin that asks for the network: the job stops awaiting approval,
    // says what it asks for, and nothing is installed.
    let job = cli.run(&["plugin", "install", folder, "--json"]);
    assert_eq!(job.code, Some(1), "{job:?}");
    let job = job.json();
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.starts_with("awaiting approval: plugin scripted 1.0.0 asks for permissions that were not granted: network; nothing was changed"), "{error}");
    assert_eq!(job["progress"]["step"], "awaiting approval", "{job}");
    assert_eq!(
        job["progress"]["permissions"],
        json!({"network": true, "read": [], "write": [], "env": [], "unix_sockets": false})
    );
    assert_eq!(installed(&cli), json!([]));

    // The admin approves: --grant shows what it asks for and grants exactly that.
    let approved = cli.run(&["plugin", "install", folder, "--grant"]);
    assert_eq!(
        approved.expect_ok("install --grant").trim(),
        "scripted 1.0.0: install succeeded"
    );
    assert!(
        approved
            .stderr
            .contains("plugin scripted 1.0.0 asks for: network; granting it (--grant)"),
        "{approved:?}"
    );
    let shown = cli.run(&["plugin", "show", "scripted", "--json"]).json();
    assert_eq!(
        shown["granted_permissions"],
        json!({"network": true, "read": [], "write": [], "env": [], "unix_sockets": false})
    );
    let table = cli.run(&["plugin", "show", "scripted"]);
    assert!(
        table.expect_ok("show").contains("granted       network"),
        "{table:?}"
    );
    // It runs.
    let id = cli
        .run(&["job", "enqueue", "plugin.run", r#"{"plugin": "scripted"}"#])
        .expect_ok("enqueue")
        .trim()
        .to_owned();
    cli.run(&["job", "watch", &id])
        .expect_ok("the run succeeds");

    // An update asking for the same goes through, even for a global token (by URL).
    let packages = PackageServer::start().await;
    let v110 = asking(work.path(), "1.1.0", "network = true");
    let url = packages.serve("1.1.0.tar.gz", Route::Whole(tar_gz(&v110)));
    cli.run_as(&global, &["plugin", "update", "scripted", &url])
        .expect_ok("an update within the grant");

    // One asking for more awaits approval again; the global token cannot give it.
    let v120 = asking(
        work.path(),
        "1.2.0",
        "network = true\nenv = [\"HTTPS_PROXY\"]",
    );
    let url = packages.serve("1.2.0.tar.gz", Route::Whole(tar_gz(&v120)));
    let waiting = cli.run_as(&global, &["plugin", "update", "scripted", &url]);
    waiting.expect_refused("awaiting approval: plugin scripted 1.2.0 asks for permissions that were not granted: env HTTPS_PROXY");
    let refused = cli.run_as(&global, &["plugin", "update", "scripted", &url, "--grant"]);
    refused.expect_refused("HTTP 403");
    refused.expect_refused("only the admin token may grant a plugin permissions");
    assert_eq!(installed(&cli)[0]["active_version"], "1.1.0");

    // The admin grants it; the grant grows, and going back to 1.1.0 needs no new consent.
    cli.run(&["plugin", "update", "scripted", &url, "--grant"])
        .expect_ok("update --grant");
    let shown = cli.run(&["plugin", "show", "scripted", "--json"]).json();
    assert_eq!(shown["active_version"], "1.2.0");
    assert_eq!(
        shown["granted_permissions"],
        json!({"network": true, "read": [], "write": [], "env": ["HTTPS_PROXY"], "unix_sockets": false})
    );
    cli.run_as(&global, &["plugin", "rollback", "scripted"])
        .expect_ok("a rollback within the grant");
    assert_eq!(installed(&cli)[0]["active_version"], "1.1.0");
    assert!(host.terminate().success());
}

/// With the store opened directly (no server named), `--grant` works the same.
#[test]
fn the_cli_on_the_store_grants_with_grant_too() {
    let data = temp_dir();
    let work = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let folder = asking(work.path(), "1.0.0", "read = [\"/srv/shared\"]");
    let dir = data.path().to_str().unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec![
            "plugin",
            "install",
            folder.to_str().unwrap(),
            "--data-dir",
            dir,
        ];
        args.extend_from_slice(extra);
        crate::harness::plugboard(&args)
    };
    let waiting = install(&[]);
    assert!(!waiting.status.success());
    let stderr = String::from_utf8_lossy(&waiting.stderr);
    assert!(stderr.contains("awaiting approval"), "{stderr}");
    // A grant that is not exactly what it asks for is refused.
    let payload = json!({"source": folder, "grant_permissions": {"network": true}}).to_string();
    let enqueued = crate::harness::plugboard(&[
        "job",
        "enqueue",
        "plugin.install",
        &payload,
        "--data-dir",
        dir,
    ]);
    assert!(enqueued.status.success(), "{enqueued:?}");
    let id = String::from_utf8_lossy(&enqueued.stdout).trim().to_owned();
    let watched = crate::harness::plugboard(&["job", "watch", &id, "--data-dir", dir]);
    assert!(!watched.status.success(), "{watched:?}");
    let shown = crate::harness::plugboard(&["job", "show", &id, "--json", "--data-dir", dir]);
    let job: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the permissions granted (network) are not what plugin scripted 1.0.0 asks for (read /srv/shared)"),
        "{job}"
    );
    let approved = install(&["--grant"]);
    let stderr = String::from_utf8_lossy(&approved.stderr);
    assert!(approved.status.success(), "{stderr}");
    assert!(
        stderr.contains("asks for: read /srv/shared; granting it"),
        "{stderr}"
    );
    let shown = crate::harness::plugboard(&["plugin", "show", "scripted", "--data-dir", dir]);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        stdout.contains("granted       read /srv/shared"),
        "{stdout}"
    );
    assert!(host.terminate().success());
}

/// A plugin installed before these checks, whose permissions no plugin may have, is not started:
/// `serve` marks it failed with the reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_plugin_with_refused_permissions_is_failed_at_start() {
    use plugboard::store::{InstalledPlugin, JobId, PackageRecord, PluginState, Timestamp};
    let data = temp_dir();
    let work = temp_dir();
    let folder = asking(work.path(), "1.0.0", "read = [\"/\"]");
    let archive = tar_gz(&folder);
    let store = crate::harness::sqlite_store(data.path()).await;
    store
        .package_put(PackageRecord {
            plugin: "scripted".to_owned(),
            version: "1.0.0".to_owned(),
            sha256: crate::harness::packages::sha256(&archive),
            archive,
            manifest: std::fs::read_to_string(folder.join("plugin.toml")).unwrap(),
            source: None,
            created_at: Timestamp(0),
        })
        .await
        .unwrap();
    store
        .plugin_put(InstalledPlugin {
            id: "scripted".to_owned(),
            active_version: Some("1.0.0".to_owned()),
            previous_version: None,
            state: PluginState::Enabled,
            error: None,
            source: None,
            changed_by: Some(JobId(1)),
            granted_permissions: None,
            updated_at: Timestamp(0),
        })
        .await
        .unwrap();
    store.close().await;

    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let plugins = installed(&cli);
    assert_eq!(plugins[0]["state"], "failed", "{plugins}");
    let error = plugins[0]["error"].as_str().unwrap();
    assert!(
        error.contains("refused plugin scripted 1.0.0")
            && error.contains("permissions.read names /:"),
        "{error}"
    );
    assert!(host.terminate().success());
}
