//! A plugin that asks the host for thousands of 1 MB answers and never reads them: the host's
//! queue for it stays under its byte limit, the process is replaced with a reason that says what
//! it did, and the host's memory and its other plugins are not affected.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::super::host::PluginHost;
use super::super::rpc::{ConnectionLimits, RpcError, HOST_ANSWER_RESERVE};
use super::{assert_gone, fast, script};
use crate::store::testing::TestStore;

/// The resident memory of this test process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|number| number.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

/// Writes a package of the scripted plugin under `id`, in `mode`.
fn package(root: &Path, id: &str, mode: &str) -> std::path::PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(script(), dir.join("scripted_plugin.py")).unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        format!(
            "id = \"{id}\"\nname = \"Scripted\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"scripted_plugin.py\"]\ninstances = 1\n[env]\nPLUGBOARD_TEST_MODE = {mode:?}\nPLUGBOARD_PLUGIN_ID = {id:?}\n"
        ),
    )
    .unwrap();
    dir
}

fn run_params(payload: serde_json::Value) -> serde_json::Value {
    json!({"job": {"id": 1, "attempt": 1, "maxAttempts": 1}, "trigger": {"kind": "manual"}, "payload": payload})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_stops_reading_its_answers_is_bounded_and_replaced() {
    let store = TestStore::sqlite().await;
    let directory = tempfile::tempdir().unwrap();
    // Plugins may run as users of their own, which must reach their packages.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let limits = ConnectionLimits {
        write_stall: Duration::from_secs(1),
        ..ConnectionLimits::default()
    };
    let config = super::super::supervisor::SupervisorConfig {
        connection: limits,
        ..fast()
    };
    let host = PluginHost::new(store.store.clone(), directory.path().join("data"), config);
    let flooder = host
        .load(&package(directory.path(), "flooder", "reply-flood"))
        .unwrap();
    let other = host
        .load(&package(directory.path(), "other", "ok"))
        .unwrap();
    for id in [&flooder, &other] {
        host.supervisor(id)
            .unwrap()
            .wait_ready(Duration::from_secs(30))
            .await
            .unwrap();
    }
    let supervisor = host.supervisor(&flooder).unwrap();
    let target = supervisor.pick().expect("a ready flooder");
    let resident_before = resident_bytes();

    // 3,000 answers of 1 MB each: 3 GB if the host queued them all.
    let flood = tokio::spawn({
        let rpc = target.rpc.clone();
        async move {
            rpc.call(
                "run",
                run_params(json!({"kv_gets": 3000})),
                Duration::from_secs(120),
            )
            .await
        }
    });
    let sampler = tokio::spawn({
        let rpc = target.rpc.clone();
        async move {
            let mut peak = 0;
            loop {
                peak = peak.max(resident_bytes());
                tokio::select! {
                    _ = rpc.closed() => return peak,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
    });

    // The other plugin keeps answering while the flooder is stuck.
    let answer = host
        .supervisor(&other)
        .unwrap()
        .pick()
        .expect("a ready plugin beside the flooder")
        .rpc
        .call("run", run_params(json!({"n": 1})), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(answer["result"]["payload"], json!({"n": 1}));

    let reason = tokio::time::timeout(Duration::from_secs(120), target.rpc.closed())
        .await
        .expect("the connection to a plugin that does not read is closed");
    assert!(target.rpc.stalled(), "{reason}");
    assert!(
        reason.contains("the plugin stopped reading its stdin")
            && reason.contains("replaces the process"),
        "{reason}"
    );
    assert!(matches!(flood.await.unwrap(), Err(RpcError::Closed(_))));
    let resident_peak = sampler.await.unwrap();

    // The value the flood asked for is the 1 MB one it stored.
    let stored = store
        .store
        .kv_get(
            &crate::store::KvScope {
                plugin: flooder.clone(),
                tenant: None,
            },
            "big",
        )
        .await
        .unwrap()
        .expect("the flooder stored its value");
    assert_eq!(stored.as_str().map(str::len), Some(1_000_000));

    let peak = target.rpc.peak_queued_bytes();
    let cap = limits.outgoing_bytes + HOST_ANSWER_RESERVE + 64 * 1024;
    assert!(peak <= cap, "{peak} bytes were queued; the cap is {cap}");
    assert!(
        peak >= limits.outgoing_bytes / 2,
        "the flood should have filled the queue, and only {peak} bytes were queued"
    );
    let growth = resident_peak.saturating_sub(resident_before);
    assert!(
        growth < 256 * 1024 * 1024,
        "the host grew by {} MiB under the flood",
        growth >> 20
    );
    eprintln!(
        "reply flood: peak queued {} MiB, resident {} MiB before, {} MiB at most during",
        peak >> 20,
        resident_before >> 20,
        resident_peak >> 20
    );

    // Replaced like a crash, and ready again.
    assert_gone(target.pid).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while supervisor.restarts() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flooder was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    supervisor
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let replacement = supervisor.pick().expect("a ready replacement");
    assert_ne!(replacement.pid, target.pid);
    replacement
        .rpc
        .call("ping", json!({}), Duration::from_secs(10))
        .await
        .unwrap();

    host.stop_all().await;
    store.finish().await;
}
