//! The supervisor against real processes: a scripted Python plugin told by its environment to
//! behave or to crash, hang, print garbage, flood its log or ignore shutdown. Every test checks
//! that no process is left behind.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::{ErrorObject, Manifest};
use serde_json::{json, Value};

use super::process::PluginPaths;
use super::rpc::{HostServices, RpcError};
use super::supervisor::{InstanceState, Supervisor, SupervisorConfig};

mod kv_pages;
mod reply_flood;

struct Recorder {
    notes: Mutex<Vec<(String, Option<Value>)>>,
}

#[async_trait]
impl HostServices for Recorder {
    async fn request(&self, method: &str, _params: Option<Value>) -> Result<Value, ErrorObject> {
        Err(ErrorObject::new(
            plugboard_protocol::error::METHOD_NOT_FOUND,
            format!("no host method {method} in this test"),
        ))
    }
    fn notification(&self, method: &str, params: Option<Value>) {
        self.notes.lock().unwrap().push((method.to_owned(), params));
    }
}

pub(super) struct Setup {
    supervisor: Option<Supervisor>,
    recorder: Arc<Recorder>,
    pub(super) _directory: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted_plugin.py")
}

pub(super) fn fast() -> SupervisorConfig {
    SupervisorConfig {
        handshake_timeout: Duration::from_millis(2000),
        stop_grace: Duration::from_millis(300),
        restart_backoff: Duration::from_millis(10),
        max_restart_backoff: Duration::from_millis(50),
        crash_loop_limit: 3,
        crash_loop_window: Duration::from_secs(60),
        ..SupervisorConfig::default()
    }
}

fn start(mode: &str, instances: u32, config: SupervisorConfig) -> Setup {
    start_with(mode, instances, config, "")
}

/// Starts the scripted plugin from a package of its own (the script copied in, as a real
/// package holds its code), with `more_manifest` appended to its `plugin.toml`.
pub(super) fn start_with(
    mode: &str,
    instances: u32,
    config: SupervisorConfig,
    more_manifest: &str,
) -> Setup {
    let directory = tempfile::tempdir().unwrap();
    start_in(
        directory,
        r#"["python3", "scripted_plugin.py"]"#,
        mode,
        config,
        &format!("instances = {instances}\n{more_manifest}"),
    )
}

/// Starts the scripted plugin in `directory` (`package/`, `data/`) with `command`; `more_manifest`
/// is TOML for the top level (and tables after it).
fn start_in(
    directory: tempfile::TempDir,
    command: &str,
    mode: &str,
    config: SupervisorConfig,
    more_manifest: &str,
) -> Setup {
    start_plugin(directory, "scripted", command, mode, config, more_manifest)
}

/// Starts the scripted plugin as plugin `id` in `directory`; see [`start_in`].
pub(super) fn start_plugin(
    directory: tempfile::TempDir,
    id: &str,
    command: &str,
    mode: &str,
    config: SupervisorConfig,
    more_manifest: &str,
) -> Setup {
    // Plugins may run as users of their own, which must be able to reach their package.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let package_dir = directory.path().join("package");
    std::fs::create_dir_all(&package_dir).unwrap();
    std::fs::copy(script(), package_dir.join("scripted_plugin.py")).unwrap();
    let manifest = Manifest::parse(&format!(
        "id = {id:?}\nname = \"Scripted\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = {command}\n{more_manifest}\n[env]\nPLUGBOARD_TEST_MODE = {mode:?}\n"
    ))
    .unwrap();
    let paths = PluginPaths {
        package_dir,
        data_dir: directory.path().join("data"),
    };
    let recorder = Arc::new(Recorder {
        notes: Mutex::new(Vec::new()),
    });
    let supervisor = Supervisor::start(manifest, paths, recorder.clone(), config);
    Setup {
        supervisor: Some(supervisor),
        recorder,
        _directory: directory,
    }
}

impl Setup {
    pub(super) fn supervisor(&self) -> &Supervisor {
        self.supervisor.as_ref().unwrap()
    }

    async fn wait_for(&self, wanted: impl Fn(&InstanceState) -> bool) -> InstanceState {
        let mut state = self.supervisor().watch_state(0).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = state.borrow_and_update().clone();
            if wanted(&now) {
                return now;
            }
            tokio::time::timeout_at(deadline, state.changed())
                .await
                .unwrap_or_else(|_| panic!("instance stayed {now:?}"))
                .unwrap();
        }
    }

    pub(super) async fn run(&self, payload: Value, timeout: Duration) -> Result<Value, RpcError> {
        let ready = self.supervisor().pick().expect("a ready instance");
        ready.rpc.call("run", json!({"job": {"id": 1, "attempt": 1, "maxAttempts": 1}, "trigger": {"kind": "manual"}, "payload": payload}), timeout).await
    }

    pub(super) async fn stop(mut self) {
        self.supervisor.take().unwrap().stop().await;
    }
}

pub(super) fn alive(pid: i32) -> bool {
    // A zombie is not alive: it has exited and waits to be reaped.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

pub(super) async fn assert_gone(pid: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} is still running"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_plugin_is_ready_runs_jobs_and_stops() {
    let setup = start("ok", 2, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        setup.supervisor().states(),
        vec![InstanceState::Ready, InstanceState::Ready]
    );
    let ready = setup.supervisor().pick().unwrap();
    assert_eq!(ready.metadata.events, vec!["test.*".to_owned()]);
    let answer = setup
        .run(json!({"n": 7}), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(answer["result"]["payload"], json!({"n": 7}));
    assert!(setup
        .recorder
        .notes
        .lock()
        .unwrap()
        .iter()
        .any(|(method, _)| method == "log"));
    let pids: Vec<i32> = [ready.pid, answer["result"]["pid"].as_i64().unwrap() as i32].to_vec();
    setup.stop().await;
    for pid in pids {
        assert_gone(pid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_exits_at_start_fails_with_its_reason() {
    let setup = start("exit-at-start", 1, fast());
    let state = setup
        .wait_for(|state| matches!(state, InstanceState::Failed(_)))
        .await;
    let InstanceState::Failed(reason) = state else {
        unreachable!()
    };
    assert!(
        reason.contains("failed to start 3 times in a row"),
        "{reason}"
    );
    assert!(reason.contains("exited before it answered initialize (exit status: 3); its last stderr lines: cannot start"), "{reason}");
    assert!(
        reason.contains("cannot start: the scripted plugin was told to fail"),
        "{reason}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_never_answers_initialize_times_out() {
    let mut config = fast();
    config.handshake_timeout = Duration::from_millis(300);
    config.crash_loop_limit = 2;
    let setup = start("never-initialize", 1, config);
    let state = setup
        .wait_for(|state| matches!(state, InstanceState::Failed(_)))
        .await;
    assert!(
        format!("{state:?}").contains("did not answer initialize within 300 ms"),
        "{state:?}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_protocol_version_or_identity_is_refused_at_once() {
    for (mode, expected) in [
        ("wrong-version", "it speaks protocol 99"),
        ("wrong-id", "it says it is someone-else 1.0.0"),
    ] {
        let setup = start(mode, 1, fast());
        let state = setup
            .wait_for(|state| matches!(state, InstanceState::Failed(_)))
            .await;
        assert!(format!("{state:?}").contains(expected), "{mode}: {state:?}");
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_a_100_mb_line_on_stdout_are_survived() {
    for mode in ["garbage", "huge-line"] {
        let setup = start(mode, 1, fast());
        setup
            .supervisor()
            .wait_ready(Duration::from_secs(30))
            .await
            .unwrap();
        let answer = setup.run(json!({}), Duration::from_secs(60)).await.unwrap();
        assert!(answer["result"]["pid"].is_number(), "{mode}: {answer}");
        let ready = setup.supervisor().pick().unwrap();
        assert!(ready.rpc.faults() >= 1, "{mode}: the faults were counted");
        let pid = ready.pid;
        setup.stop().await;
        assert_gone(pid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_stderr_does_not_stop_the_plugin() {
    let setup = start("flood", 1, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(60))
        .await
        .unwrap();
    setup.run(json!({}), Duration::from_secs(30)).await.unwrap();
    let pid = setup.supervisor().pick().unwrap().pid;
    setup.stop().await;
    assert_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_ignoring_shutdown_and_sigterm_is_killed() {
    let setup = start("ignore-shutdown", 1, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let pid = setup.supervisor().pick().unwrap().pid;
    setup.stop().await;
    assert_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_run_fails_the_call_and_the_instance_comes_back() {
    let setup = start("crash-mid-run", 1, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let first_pid = setup.supervisor().pick().unwrap().pid;
    let outcome = setup.run(json!({}), Duration::from_secs(10)).await;
    assert!(matches!(outcome, Err(RpcError::Closed(_))), "{outcome:?}");
    setup.wait_for(|state| *state != InstanceState::Ready).await;
    setup.wait_for(|state| *state == InstanceState::Ready).await;
    let second_pid = setup.supervisor().pick().unwrap().pid;
    assert_ne!(first_pid, second_pid);
    assert_gone(first_pid).await;
    setup.stop().await;
    assert_gone(second_pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_that_does_not_answer_ping_is_replaced_and_a_busy_one_is_not_pinged() {
    let config = SupervisorConfig {
        ping_interval: Duration::from_millis(100),
        ping_timeout: Duration::from_millis(200),
        ..fast()
    };
    let setup = start("deaf-to-ping", 1, config.clone());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let deaf = setup.supervisor().pick().unwrap().pid;
    setup.wait_for(|state| *state != InstanceState::Ready).await;
    assert_gone(deaf).await;
    setup.wait_for(|state| *state == InstanceState::Ready).await;
    assert!(setup.supervisor().restarts() >= 1);
    setup.stop().await;

    // The same plugin busy with a run across several pings is left alone.
    let setup = start(
        "deaf-to-ping",
        1,
        SupervisorConfig {
            ping_interval: Duration::from_millis(1000),
            ..config
        },
    );
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let busy = setup.supervisor().pick().unwrap().pid;
    let answer = setup
        .run(json!({"sleep_ms": 2500}), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(answer["result"]["pid"], json!(busy));
    setup.stop().await;
    assert_gone(busy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_instance_is_replaced() {
    let setup = start("hang-run", 1, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let hung = setup.supervisor().pick().unwrap().pid;
    let outcome = setup.run(json!({}), Duration::from_millis(200)).await;
    assert!(
        matches!(outcome, Err(RpcError::Timeout { .. })),
        "{outcome:?}"
    );
    setup.supervisor().replace(hung);
    assert_gone(hung).await;
    setup.wait_for(|state| *state == InstanceState::Ready).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        if let Some(ready) = setup.supervisor().pick() {
            if ready.pid != hung {
                break ready.pid;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no new instance");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    setup.stop().await;
    assert_gone(fresh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_plugin_also_stops_what_it_started() {
    let setup = start("grandchild", 1, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let pid = setup.supervisor().pick().unwrap().pid;
    let grandchildren: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|candidate| *candidate != pid)
        .filter(|candidate| {
            std::fs::read_to_string(format!("/proc/{candidate}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(") ")
                        .map(|(_, rest)| rest.split_whitespace().nth(2) == Some(&pid.to_string()))
                })
                .unwrap_or(false)
        })
        .collect();
    assert_eq!(grandchildren.len(), 1, "the plugin started its sleep");
    setup.stop().await;
    assert_gone(pid).await;
    assert_gone(grandchildren[0]).await;
}

/// The Landlock ABI version, or `None` after printing why `test` is skipped.
fn landlock_abi_at_least(test: &str, wanted: i32) -> Option<i32> {
    match super::landlock::abi_version() {
        Ok(abi) if abi >= wanted => Some(abi),
        Ok(abi) => {
            eprintln!("SKIPPED {test}: the kernel's Landlock ABI is {abi}, this needs {wanted}");
            None
        }
        Err(reason) => {
            eprintln!("SKIPPED {test}: {reason}");
            None
        }
    }
}

fn strings(paths: &[&std::path::Path]) -> Vec<String> {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_outside_the_data_directory_are_denied_where_landlock_exists() {
    if landlock_abi_at_least(
        "writes_outside_the_data_directory_are_denied_where_landlock_exists",
        1,
    )
    .is_none()
    {
        return;
    }
    let setup = start("ok", 1, fast());
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let root = setup._directory.path();
    let inside = root.join("data/allowed.txt");
    let package = root.join("package/denied.txt");
    let outside = root.join("denied.txt");
    let paths = strings(&[&inside, &package, &outside]);
    let answer = setup
        .run(json!({"write": paths}), Duration::from_secs(10))
        .await
        .unwrap();
    let writes = &answer["result"]["writes"];
    assert_eq!(
        writes[&paths[0]],
        json!("ok"),
        "the plugin writes its data directory: {answer}"
    );
    assert_eq!(
        writes[&paths[1]],
        json!("Permission denied"),
        "the package is read-only to it: {answer}"
    );
    assert_eq!(
        writes[&paths[2]],
        json!("Permission denied"),
        "nothing else is writable: {answer}"
    );
    assert!(!package.exists() && !outside.exists());
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_outside_the_package_and_declared_paths_are_denied_where_landlock_exists() {
    let test = "reads_outside_the_package_and_declared_paths_are_denied_where_landlock_exists";
    if landlock_abi_at_least(test, 1).is_none() {
        return;
    }
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("shared.txt"), "declared").unwrap();
    let setup = start_with(
        "ok",
        1,
        fast(),
        &format!(
            "[permissions]\nread = [{:?}]\n",
            shared.path().display().to_string()
        ),
    );
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let root = setup._directory.path();
    std::fs::write(root.join("package/own.txt"), "package").unwrap();
    std::fs::write(root.join("data/mine.txt"), "data").unwrap();
    std::fs::write(root.join("secret.txt"), "secret").unwrap();
    let allowed = [
        root.join("package/own.txt"),
        root.join("package"),
        root.join("data/mine.txt"),
        root.join("data"),
        shared.path().join("shared.txt"),
        PathBuf::from("/etc/ld.so.cache"),
        PathBuf::from("/proc/self/status"),
    ];
    let mut denied = vec![root.join("secret.txt"), root.to_path_buf()];
    // An /etc file outside the list the runtimes need, where this machine has one.
    if std::path::Path::new("/etc/hostname").exists() {
        denied.push(PathBuf::from("/etc/hostname"));
    }
    let targets: Vec<String> = allowed
        .iter()
        .chain(&denied)
        .map(|path| path.display().to_string())
        .collect();
    let answer = setup
        .run(json!({"read": targets}), Duration::from_secs(10))
        .await
        .unwrap();
    let reads = &answer["result"]["reads"];
    for path in &allowed {
        assert_eq!(
            reads[path.display().to_string()],
            json!("ok"),
            "{} is readable: {answer}",
            path.display()
        );
    }
    for path in &denied {
        assert_eq!(
            reads[path.display().to_string()],
            json!("Permission denied"),
            "{} is not readable: {answer}",
            path.display()
        );
    }
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connect_needs_permissions_network_where_landlock_has_network_rules() {
    let test = "tcp_connect_needs_permissions_network_where_landlock_has_network_rules";
    if landlock_abi_at_least(test, super::landlock::NETWORK_ABI).is_none() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    for (network, expected) in [(false, "Permission denied"), (true, "ok")] {
        let setup = start_with(
            "ok",
            1,
            fast(),
            &format!("[permissions]\nnetwork = {network}\n"),
        );
        setup
            .supervisor()
            .wait_ready(Duration::from_secs(30))
            .await
            .unwrap();
        let answer = setup
            .run(json!({"connect": [&address]}), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            answer["result"]["connects"][&address],
            json!(expected),
            "network = {network}: {answer}"
        );
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_hung_instance_again_and_again_is_not_a_crash_loop() {
    let setup = start("hang-run", 1, fast());
    for _ in 0..5 {
        setup
            .supervisor()
            .wait_ready(Duration::from_secs(30))
            .await
            .unwrap();
        let pid = setup.supervisor().pick().unwrap().pid;
        setup.supervisor().replace(pid);
        assert!(
            setup.supervisor().pick().is_none(),
            "a replaced instance is not handed out"
        );
        assert_gone(pid).await;
    }
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(setup.supervisor().states(), vec![InstanceState::Ready]);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_that_keep_failing_slowly_still_end_in_failed() {
    let mut config = fast();
    config.handshake_timeout = Duration::from_millis(200);
    // A window too short to ever hold two crashes: only the starts-in-a-row rule can fire.
    config.crash_loop_window = Duration::from_millis(1);
    config.crash_loop_limit = 2;
    let setup = start("never-initialize", 1, config);
    let state = setup
        .wait_for(|state| matches!(state, InstanceState::Failed(_)))
        .await;
    assert!(
        format!("{state:?}").contains("failed to start 2 times in a row"),
        "{state:?}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_installed_outside_the_system_folders_may_read_its_installation() {
    let test = "a_program_installed_outside_the_system_folders_may_read_its_installation";
    if landlock_abi_at_least(test, 1).is_none() {
        return;
    }
    // An "installation" like a virtualenv's: <prefix>/bin/launcher and <prefix>/share/.
    let directory = tempfile::tempdir().unwrap();
    let prefix = directory.path().join("installation");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(prefix.join("share")).unwrap();
    std::fs::write(prefix.join("share/data.txt"), "shipped").unwrap();
    let launcher = prefix.join("bin/launcher");
    std::fs::write(&launcher, "#!/bin/sh\nexec python3 scripted_plugin.py\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(directory.path().join("elsewhere.txt"), "not for it").unwrap();
    let shipped = prefix.join("share/data.txt").display().to_string();
    let elsewhere = directory.path().join("elsewhere.txt").display().to_string();
    let command = format!("[{:?}]", launcher.display().to_string());
    let setup = start_in(directory, &command, "ok", fast(), "");
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap();
    let answer = setup
        .run(
            json!({"read": [&shipped, &elsewhere]}),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let reads = &answer["result"]["reads"];
    assert_eq!(reads[&shipped], json!("ok"), "its installation: {answer}");
    assert_eq!(
        reads[&elsewhere],
        json!("Permission denied"),
        "beside it: {answer}"
    );
    setup.stop().await;
}

#[test]
fn a_config_schema_is_checked_by_its_meta_schema_with_every_problem() {
    use super::supervisor::config_schema_problems;
    assert_eq!(
        config_schema_problems(&json!({"type": "object", "properties": {"a": {"type": "string"}}})),
        Vec::<String>::new()
    );
    let problems = config_schema_problems(&json!({
        "type": "strng",
        "properties": {"port": {"minimum": "zero"}}
    }));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("/properties/port/minimum: "),
        "{problems:?}"
    );
    assert!(problems[1].starts_with("/type: "), "{problems:?}");
    // Draft 7 by its `$schema`; a meta-schema plugboard does not have is named, not fetched.
    assert_eq!(
        config_schema_problems(
            &json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})
        ),
        Vec::<String>::new()
    );
    let unknown = config_schema_problems(
        &json!({"$schema": "https://example.com/my-meta", "type": "object"}),
    );
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(unknown[0].starts_with("/$schema: "), "{unknown:?}");
    // Not even an object: said, not a panic.
    assert_eq!(config_schema_problems(&json!({"$schema": 7})).len(), 1);
    assert!(!config_schema_problems(&json!("a string")).is_empty());
    // Well-formed by the meta-schema but not compilable: a pattern that is no regular expression.
    let pattern = config_schema_problems(&json!({"type": "string", "pattern": "(unclosed"}));
    assert_eq!(pattern.len(), 1, "{pattern:?}");
}
