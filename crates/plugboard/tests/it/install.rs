//! Installing and managing plugins through the real server and the real CLI, with packages
//! served over real HTTP: install from a URL, an archive and a folder; update with the old
//! version serving until the switch; failed updates that leave the old version running;
//! rollback, disable and enable, uninstall with and without data; two admin jobs on one plugin
//! never interleave; `kill -9` in the middle of an install. The server never restarts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard::store::{Job, JobId, JobStatus, KvScope, NewJob, PluginState, Store};
use serde_json::{json, Value};

use crate::harness::packages::{
    plugin_command, printed, scripted_package, sha256, tar_gz, PackageServer, Route,
};
use crate::harness::{sqlite_store, temp_dir, wait_all, TestHost, FAST_LEASES};

/// Waits until `job` has finished, whatever its outcome.
async fn finished(store: &Arc<dyn Store>, job: JobId, within: Duration) -> Job {
    let deadline = Instant::now() + within;
    loop {
        let current = store.job_get(job).await.unwrap().expect("the job exists");
        if current.status.is_finished() {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} did not finish: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the plugin once and returns the version that answered.
async fn run_version(store: &Arc<dyn Store>, payload: Value) -> Result<String, String> {
    let id = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "scripted", "payload": payload}),
        ))
        .await
        .unwrap()
        .id;
    let job = finished(store, id, Duration::from_secs(30)).await;
    match job.status {
        JobStatus::Succeeded => Ok(job.result.unwrap()["version"].as_str().unwrap().to_owned()),
        _ => Err(job.error.unwrap_or_default()),
    }
}

async fn log_of(store: &Arc<dyn Store>, job: JobId) -> String {
    store
        .log_list(job, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|line| line.message)
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_ok(output: &std::process::Output, what: &str) -> String {
    let text = printed(output);
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

fn assert_refused(output: &std::process::Output, expected: &str) -> String {
    let text = printed(output);
    assert!(!output.status.success(), "should have failed:\n{text}");
    assert!(
        text.contains(expected),
        "the error should say `{expected}`:\n{text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_is_installed_updated_rolled_back_disabled_and_uninstalled_while_the_host_serves()
{
    let data = temp_dir();
    let work = temp_dir();
    let server = PackageServer::start().await;
    let v100 = tar_gz(&scripted_package(work.path(), "1.0.0", "ok"));
    let v110 = tar_gz(&scripted_package(work.path(), "1.1.0", "ok"));
    let url_100 = server.serve("scripted-1.0.0.tar.gz", Route::Whole(v100.clone()));
    let url_110 = server.serve("scripted-1.1.0.tar.gz", Route::Whole(v110.clone()));
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--plugin-drain-grace-ms", "20000"]);
    let host = TestHost::start(data.path(), &flags);
    let store = sqlite_store(data.path()).await;

    // Install from a URL, with its checksum: every step is in the job's log.
    let text = assert_ok(
        &plugin_command(
            data.path(),
            &["install", &url_100, "--sha256", &sha256(&v100)],
        ),
        "install",
    );
    for step in [
        "downloading",
        "100%",
        "sha256 matches",
        "unpacking",
        "starting scripted 1.0.0 once",
        "metadata fetched",
        "switched",
    ] {
        assert!(text.contains(step), "no `{step}` in:\n{text}");
    }
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.0.0");
    assert!(data
        .path()
        .join("plugins/scripted/1.0.0/plugin.toml")
        .is_file());
    let kept = store
        .package_get("scripted", "1.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.archive, v100, "the archive is kept in the store");

    // Installing what is installed says what to do instead.
    assert_refused(
        &plugin_command(data.path(), &["install", &url_110]),
        "plugin scripted 1.0.0 is installed; use update to go to 1.1.0",
    );

    // Update while a slow run is in flight: the run finishes on 1.0.0, later runs reach 1.1.0.
    let slow = store
        .job_enqueue(NewJob::new(
            "plugin.run",
            json!({"plugin": "scripted", "payload": {"sleep_ms": 2500}}),
        ))
        .await
        .unwrap()
        .id;
    wait_all(&store, &[slow], JobStatus::Running, Duration::from_secs(10)).await;
    // A slow request to one of its routes too, and requests all along the update: each is
    // answered, the slow one by 1.0.0.
    let route = |query: &str| {
        let url = format!("http://{}/plugins/scripted/echo/x{query}", host.address);
        async move {
            let response = reqwest::get(url).await.expect("the server answers");
            let status = response.status().as_u16();
            let body: Value =
                serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
            (status, body["version"].as_str().unwrap_or("").to_owned())
        }
    };
    let slow_request = tokio::spawn(route("?sleep_ms=2500"));
    let stop_probing = tokio_util::sync::CancellationToken::new();
    let probing = tokio::spawn({
        let (stop, url) = (stop_probing.clone(), host.address.clone());
        async move {
            let mut answers = Vec::new();
            while !stop.is_cancelled() {
                let response = reqwest::get(format!("http://{url}/plugins/scripted/echo/p"))
                    .await
                    .expect("the server answers");
                answers.push(response.status().as_u16());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        }
    });
    let text = tokio::task::block_in_place(|| {
        assert_ok(
            &plugin_command(data.path(), &["update", "scripted", &url_110]),
            "update",
        )
    });
    assert_eq!(
        slow_request.await.unwrap(),
        (200, "1.0.0".to_owned()),
        "the request in flight finished on the old version"
    );
    assert_eq!(route("").await, (200, "1.1.0".to_owned()));
    stop_probing.cancel();
    let answers = probing.await.unwrap();
    assert!(
        answers.iter().all(|status| *status == 200),
        "no request failed during the update: {answers:?}"
    );
    assert!(
        text.contains("switched: plugin scripted 1.1.0 is active"),
        "{text}"
    );
    assert!(text.contains("scripted 1.0.0 stopped"), "{text}");
    let slow = finished(&store, slow, Duration::from_secs(30)).await;
    assert_eq!(slow.status, JobStatus::Succeeded, "{slow:?}");
    assert_eq!(
        slow.result.unwrap()["version"],
        "1.0.0",
        "the in-flight run finished on the old version"
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.1.0");

    // Failed updates leave 1.1.0 running and say why.
    let broken = scripted_package(work.path(), "1.2.0", "ok");
    std::fs::write(
        broken.join("plugin.toml"),
        "id = \"scripted\"\nname = \"Scripted\"\nversion = \"1.2.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n\ninstances = \"two\"\n",
    )
    .unwrap();
    let url_broken = server.serve("broken.tar.gz", Route::Whole(tar_gz(&broken)));
    assert_refused(
        &plugin_command(data.path(), &["update", "scripted", &url_broken]),
        "line 7",
    );
    let crashing = tar_gz(&scripted_package(work.path(), "1.3.0", "exit-at-start"));
    let url_crashing = server.serve("crashing.tar.gz", Route::Whole(crashing));
    let text = assert_refused(
        &plugin_command(data.path(), &["update", "scripted", &url_crashing]),
        "1.1.0 keeps running",
    );
    assert!(text.contains("did not start"), "{text}");
    assert!(
        text.contains("cannot start: the scripted plugin was told to fail"),
        "the plugin's own words: {text}"
    );
    assert_refused(
        &plugin_command(
            data.path(),
            &[
                "update",
                "scripted",
                &url_110,
                "--sha256",
                &sha256(b"something else"),
            ],
        ),
        "sha256",
    );
    assert_refused(
        &plugin_command(data.path(), &["update", "scripted", &url_100]),
        "pass --allow-downgrade",
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.1.0");
    assert!(
        !data.path().join("plugins/scripted/1.3.0").exists(),
        "a failed version leaves no folder"
    );
    assert!(store
        .package_get("scripted", "1.3.0")
        .await
        .unwrap()
        .is_none());

    // Rollback to 1.0.0, then disable and enable it.
    assert_ok(
        &plugin_command(data.path(), &["rollback", "scripted"]),
        "rollback",
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.0.0");
    let row = store.plugin_get("scripted").await.unwrap().unwrap();
    assert_eq!(row.active_version.as_deref(), Some("1.0.0"));
    assert_eq!(row.previous_version.as_deref(), Some("1.1.0"));
    assert_ok(
        &plugin_command(data.path(), &["disable", "scripted"]),
        "disable",
    );
    let error = run_version(&store, json!({})).await.unwrap_err();
    assert!(error.contains("is disabled; enable it with"), "{error}");
    assert_eq!(
        store.plugin_get("scripted").await.unwrap().unwrap().state,
        PluginState::Disabled
    );
    assert_ok(
        &plugin_command(data.path(), &["enable", "scripted"]),
        "enable",
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.0.0");
    let listed = assert_ok(&plugin_command(data.path(), &["list"]), "list");
    assert!(
        listed.contains("scripted") && listed.contains("enabled"),
        "{listed}"
    );

    // Uninstall keeping the data, then install from a local archive and uninstall with it.
    let scope = KvScope {
        plugin: "scripted".to_owned(),
        tenant: None,
    };
    store.kv_set(&scope, "count", json!(3)).await.unwrap();
    let plugin_data = data.path().join("plugin-data/scripted");
    std::fs::create_dir_all(&plugin_data).unwrap();
    std::fs::write(plugin_data.join("state"), "kept").unwrap();
    assert_ok(
        &plugin_command(data.path(), &["uninstall", "scripted"]),
        "uninstall",
    );
    assert!(store.plugin_get("scripted").await.unwrap().is_none());
    assert!(!data.path().join("plugins/scripted").exists());
    assert_eq!(store.kv_get(&scope, "count").await.unwrap(), Some(json!(3)));
    assert!(plugin_data.join("state").is_file());
    let error = run_version(&store, json!({})).await.unwrap_err();
    assert!(error.contains("is not installed"), "{error}");

    let archive = work.path().join("scripted-1.1.0.tar.gz");
    std::fs::write(&archive, &v110).unwrap();
    assert_ok(
        &plugin_command(data.path(), &["install", archive.to_str().unwrap()]),
        "install from an archive",
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.1.0");
    assert_ok(
        &plugin_command(data.path(), &["uninstall", "scripted", "--delete-data"]),
        "uninstall with its data",
    );
    assert_eq!(store.kv_get(&scope, "count").await.unwrap(), None);
    assert!(!plugin_data.exists());
    assert_refused(
        &plugin_command(data.path(), &["uninstall", "scripted"]),
        "plugin scripted is not installed",
    );

    // And from a folder.
    let folder = scripted_package(work.path(), "2.0.0", "ok");
    assert_ok(
        &plugin_command(data.path(), &["install", folder.to_str().unwrap()]),
        "install from a folder",
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "2.0.0");

    assert_eq!(
        host.log().matches("plugboard is running").count(),
        1,
        "the host never restarted"
    );
    store.close().await;
    host.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admin_jobs_on_one_plugin_never_interleave() {
    let data = temp_dir();
    let work = temp_dir();
    let server = PackageServer::start().await;
    let v100 = tar_gz(&scripted_package(work.path(), "1.0.0", "ok"));
    let url_100 = server.serve("scripted-1.0.0.tar.gz", Route::Whole(v100));
    let (gate, gated) = tokio::sync::watch::channel(false);
    let v110 = tar_gz(&scripted_package(work.path(), "1.1.0", "ok"));
    let url_110 = server.serve("slow-1.1.0.tar.gz", Route::Gated(v110, gated));
    let host = TestHost::start(data.path(), FAST_LEASES);
    let store = sqlite_store(data.path()).await;
    assert_ok(
        &plugin_command(data.path(), &["install", &url_100]),
        "install",
    );

    let update = store
        .job_enqueue(NewJob::new(
            "plugin.update",
            json!({"plugin": "scripted", "source": url_110}),
        ))
        .await
        .unwrap()
        .id;
    wait_all(
        &store,
        &[update],
        JobStatus::Running,
        Duration::from_secs(10),
    )
    .await;
    let disable = store
        .job_enqueue(NewJob::new("plugin.disable", json!({"plugin": "scripted"})))
        .await
        .unwrap()
        .id;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_of(&store, disable)
        .await
        .contains(&format!("busy with job {update}"))
    {
        assert!(
            Instant::now() < deadline,
            "the second job never said it waits"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gate.send_replace(true);
    let update = finished(&store, update, Duration::from_secs(30)).await;
    let disable = finished(&store, disable, Duration::from_secs(30)).await;
    assert_eq!(update.status, JobStatus::Succeeded, "{update:?}");
    assert_eq!(disable.status, JobStatus::Succeeded, "{disable:?}");
    assert!(disable.finished_at > update.finished_at);
    let row = store.plugin_get("scripted").await.unwrap().unwrap();
    assert_eq!(row.active_version.as_deref(), Some("1.1.0"));
    assert_eq!(row.state, PluginState::Disabled);
    store.close().await;
    host.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_in_the_middle_of_an_install_leaves_it_whole_or_absent_and_the_job_says_which() {
    let data = temp_dir();
    let work = temp_dir();
    let server = PackageServer::start().await;
    let (gate, gated) = tokio::sync::watch::channel(false);
    let package = tar_gz(&scripted_package(work.path(), "1.0.0", "ok"));
    let url = server.serve("scripted.tar.gz", Route::Gated(package, gated));
    let host = TestHost::start(data.path(), FAST_LEASES);
    let store = sqlite_store(data.path()).await;
    let mut install = NewJob::new("plugin.install", json!({"source": url}));
    install.max_attempts = 3;
    let id = store.job_enqueue(install).await.unwrap().id;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_of(&store, id).await.contains("downloading") {
        assert!(
            Instant::now() < deadline,
            "the install never started downloading"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    host.kill9();
    // Mid-download: nothing is installed.
    assert!(store.plugin_get("scripted").await.unwrap().is_none());
    assert!(!data.path().join("plugins/scripted").exists());

    gate.send_replace(true);
    let host = TestHost::start(data.path(), FAST_LEASES);
    let job = finished(&store, id, Duration::from_secs(60)).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(
        job.attempt, 2,
        "the interrupted attempt was rescued and run again"
    );
    assert_eq!(job.result.as_ref().unwrap()["version"], "1.0.0");
    let log = log_of(&store, id).await;
    assert!(
        log.contains("switched: plugin scripted 1.0.0 is installed"),
        "{log}"
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.0.0");
    let staging: Vec<_> = std::fs::read_dir(data.path().join("plugins/.staging"))
        .unwrap()
        .collect();
    assert!(staging.is_empty(), "reconcile emptied the staging folder");
    store.close().await;
    host.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_while_the_new_plugin_starts_is_finished_by_the_retried_job() {
    let data = temp_dir();
    let work = temp_dir();
    let server = PackageServer::start().await;
    let package = tar_gz(&scripted_package(work.path(), "1.0.0", "slow-start"));
    let url = server.serve("scripted.tar.gz", Route::Whole(package));
    let host = TestHost::start(data.path(), FAST_LEASES);
    let store = sqlite_store(data.path()).await;
    let mut install = NewJob::new("plugin.install", json!({"source": url}));
    install.max_attempts = 3;
    let id = store.job_enqueue(install).await.unwrap().id;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_of(&store, id)
        .await
        .contains("starting scripted 1.0.0 once")
    {
        assert!(
            Instant::now() < deadline,
            "the install never reached its start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    host.kill9();
    let row = store.plugin_get("scripted").await.unwrap().unwrap();
    assert_eq!(
        row.state,
        PluginState::Installing,
        "not installed yet: no active version"
    );
    assert_eq!(row.active_version, None);

    let host = TestHost::start(data.path(), FAST_LEASES);
    let job = finished(&store, id, Duration::from_secs(60)).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    let row = store.plugin_get("scripted").await.unwrap().unwrap();
    assert_eq!(row.state, PluginState::Enabled);
    assert_eq!(row.active_version.as_deref(), Some("1.0.0"));
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.0.0");
    store.close().await;
    host.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_a_failed_plugin_says_why_it_failed_until_it_is_disabled_and_enabled() {
    let data = temp_dir();
    let work = temp_dir();
    let package = scripted_package(work.path(), "1.0.0", "exit-if-marker");
    let host = TestHost::start(data.path(), FAST_LEASES);
    let store = sqlite_store(data.path()).await;
    assert_ok(
        &plugin_command(data.path(), &["install", package.to_str().unwrap()]),
        "install",
    );
    let id = store
        .job_enqueue(NewJob::new("plugin.run", json!({"plugin": "scripted"})))
        .await
        .unwrap()
        .id;
    let ran = wait_all(&store, &[id], JobStatus::Succeeded, Duration::from_secs(30)).await;
    let pid = ran[0].result.as_ref().unwrap()["pid"].as_i64().unwrap() as i32;

    // From now on every start exits: the restarts end in a crash loop, and the registry says so.
    std::fs::write(data.path().join("plugin-data/scripted/fail"), "").unwrap();
    // SAFETY: a plain kill(2) of the plugin process this test started through the host.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    let failed = loop {
        let row = store.plugin_get("scripted").await.unwrap().unwrap();
        if row.state == PluginState::Failed {
            break row;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin never failed: {row:?}\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = failed.error.unwrap_or_default();
    assert!(reason.contains("marker file"), "{reason}");

    let text = assert_refused(
        &plugin_command(data.path(), &["enable", "scripted"]),
        "plugin scripted failed:",
    );
    assert!(
        text.contains("marker file") && text.contains("disable it, then enable it"),
        "{text}"
    );

    // Fixed: disable, then enable, and it runs again.
    std::fs::remove_file(data.path().join("plugin-data/scripted/fail")).unwrap();
    assert_ok(
        &plugin_command(data.path(), &["disable", "scripted"]),
        "disable",
    );
    assert_ok(
        &plugin_command(data.path(), &["enable", "scripted"]),
        "enable",
    );
    assert_eq!(run_version(&store, json!({})).await.unwrap(), "1.0.0");
    store.close().await;
    assert!(host.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_beyond_the_kept_count_are_forgotten_but_never_the_active_or_previous() {
    let data = temp_dir();
    let work = temp_dir();
    let server = PackageServer::start().await;
    let urls: Vec<String> = ["1.0.0", "1.1.0", "1.2.0"]
        .iter()
        .map(|version| {
            server.serve(
                &format!("scripted-{version}.tar.gz"),
                Route::Whole(tar_gz(&scripted_package(work.path(), version, "ok"))),
            )
        })
        .collect();
    let mut flags = FAST_LEASES.to_vec();
    flags.extend(["--package-keep-versions", "2"]);
    let host = TestHost::start(data.path(), &flags);
    assert_ok(
        &plugin_command(data.path(), &["install", &urls[0]]),
        "install",
    );
    assert_ok(
        &plugin_command(data.path(), &["update", "scripted", &urls[1]]),
        "update to 1.1.0",
    );
    let out = plugin_command(data.path(), &["update", "scripted", &urls[2]]);
    assert_ok(&out, "update to 1.2.0");
    assert!(
        printed(&out).contains("forgot version 1.0.0 of scripted"),
        "{}",
        printed(&out)
    );
    let store = sqlite_store(data.path()).await;
    let kept: Vec<String> = store
        .package_list("scripted")
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.version)
        .collect();
    assert_eq!(kept, ["1.1.0", "1.2.0"]);
    assert!(!data.path().join("plugins/scripted/1.0.0").exists());
    // The previous version is kept, so a rollback still works, and forgets nothing it needs.
    assert_ok(
        &plugin_command(data.path(), &["rollback", "scripted"]),
        "rollback",
    );
    let row = store.plugin_get("scripted").await.unwrap().unwrap();
    assert_eq!(row.active_version.as_deref(), Some("1.1.0"));
    assert_eq!(store.package_list("scripted").await.unwrap().len(), 2);
    store.close().await;
    assert!(host.terminate().success());
}

/// A folder on the server without a `plugin.toml` at its top is refused before anything is
/// read: an install from `/` once packed the whole disk, and the server could not stop while it
/// did. The host stops promptly either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_without_a_manifest_is_refused_before_it_is_read() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let store = sqlite_store(data.path()).await;
    let install = NewJob::new("plugin.install", json!({"source": "/"}));
    let id = store.job_enqueue(install).await.unwrap().id;
    let job = finished(&store, id, Duration::from_secs(20)).await;
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("without a plugin.toml at its top"),
        "{error}"
    );
    assert!(
        !log_of(&store, id).await.contains("packing the folder"),
        "nothing was packed"
    );
    store.close().await;
    host.terminate();
}
