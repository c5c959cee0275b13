//! Hostile plugins against the real confinement: each test is an attack the scripted plugin
//! performs from inside its sandbox, and what the kernel answered. They are meant to run as
//! root (CI does), where a plugin would otherwise keep root's powers; a test whose attack only
//! means something as root says so and is skipped for other users.

use std::time::Duration;

use serde_json::{json, Value};

use super::tests::{alive, assert_gone, fast, start_plugin, start_with, Setup};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// `None` after saying why `test` is skipped when this does not run as root.
fn as_root(test: &str) -> Option<()> {
    if is_root() {
        Some(())
    } else {
        eprintln!("SKIPPED {test}: it attacks what a plugin of a root host could do; run the tests as root (CI does)");
        None
    }
}

async fn ready(setup: &Setup) {
    setup
        .supervisor()
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("the plugin is ready");
}

async fn probe(setup: &Setup, payload: Value) -> Value {
    let answer = setup
        .run(payload, Duration::from_secs(30))
        .await
        .expect("the probe answers");
    answer["result"].clone()
}

fn hex_mask(status: &Value, key: &str) -> u64 {
    let text = status[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {status}"));
    u64::from_str_radix(text, 16).unwrap_or_else(|_| panic!("{key} = {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_read_the_environment_or_memory_of_the_host_or_other_plugins() {
    let test = "a_plugin_cannot_read_the_environment_or_memory_of_the_host_or_other_plugins";
    if as_root(test).is_none() {
        return;
    }
    let attacker = start_with("ok", 1, fast(), "");
    let victim = start_plugin(
        tempfile::tempdir().unwrap(),
        "victim",
        r#"["python3", "scripted_plugin.py"]"#,
        "ok",
        fast(),
        "",
    );
    ready(&attacker).await;
    ready(&victim).await;
    let host = std::process::id();
    let victim_pid = victim.supervisor().pick().expect("a victim").pid;
    let targets: Vec<String> = [
        format!("/proc/{host}/environ"),
        format!("/proc/{host}/maps"),
        format!("/proc/{host}/auxv"),
        format!("/proc/{host}/mem"),
        format!("/proc/{victim_pid}/environ"),
        format!("/proc/{victim_pid}/maps"),
    ]
    .into();
    let result = probe(&attacker, json!({"read": targets})).await;
    for target in &targets {
        assert_eq!(
            result["reads"][target],
            json!("Permission denied"),
            "{target}: {result}"
        );
    }
    // Its own are readable: the denial is about whose they are.
    let own = probe(&attacker, json!({"read": ["/proc/self/environ"]})).await;
    assert_eq!(own["reads"]["/proc/self/environ"], json!("ok"), "{own}");
    attacker.stop().await;
    victim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_of_a_root_host_runs_as_its_own_user_without_capabilities() {
    let test = "a_plugin_of_a_root_host_runs_as_its_own_user_without_capabilities";
    if as_root(test).is_none() {
        return;
    }
    // A descriptor the host holds without close-on-exec must not reach the plugin.
    let leaked = {
        let path = std::ffi::CString::new("/dev/null").unwrap();
        // SAFETY: open on a NUL-terminated path; the descriptor is closed below.
        unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) }
    };
    assert!(leaked > 2);
    let setup = start_with("ok", 1, fast(), "");
    ready(&setup).await;
    let other = start_plugin(
        tempfile::tempdir().unwrap(),
        "other",
        r#"["python3", "scripted_plugin.py"]"#,
        "ok",
        fast(),
        "",
    );
    ready(&other).await;
    let status = probe(&setup, json!({"identity": true})).await["identity"].clone();
    let other_status = probe(&other, json!({"identity": true})).await["identity"].clone();
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(leaked) };
    let uid: u32 = status["Uid"]
        .as_str()
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .unwrap_or_else(|| panic!("a uid in {status}"));
    assert!(
        uid >= super::identity::PLUGIN_ID_BASE,
        "a user of its own: {status}"
    );
    assert_ne!(
        status["Uid"], other_status["Uid"],
        "each plugin has its own user"
    );
    assert_eq!(
        status["Groups"],
        json!(""),
        "no supplementary groups: {status}"
    );
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(hex_mask(&status, key), 0, "{key}: {status}");
    }
    assert_eq!(status["NoNewPrivs"], json!("1"), "{status}");
    assert_eq!(status["Seccomp"], json!("2"), "a seccomp filter: {status}");
    let own_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let own_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_ne!(
        status["netns"],
        json!(own_net.display().to_string()),
        "a network namespace of its own without permissions.network: {status}"
    );
    assert_ne!(
        status["ipcns"],
        json!(own_ipc.display().to_string()),
        "an IPC namespace of its own: {status}"
    );
    let fds = status["fds"].as_array().expect("its descriptors");
    assert!(
        !fds.contains(&json!(leaked)),
        "the host's descriptor {leaked} reached the plugin: {status}"
    );
    setup.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_change_modes_owners_or_times_of_files_outside() {
    let test = "a_plugin_cannot_change_modes_owners_or_times_of_files_outside";
    if as_root(test).is_none() {
        return;
    }
    let setup = start_with("ok", 1, fast(), "");
    ready(&setup).await;
    let root = setup._directory.path();
    let victim = root.join("victim.txt");
    std::fs::write(&victim, "the host's").unwrap();
    let before = std::fs::metadata(&victim).unwrap();
    let path = victim.display().to_string();
    let result = probe(
        &setup,
        json!({"chmod": [&path], "chown": [&path], "utime": [&path]}),
    )
    .await;
    for kind in ["chmods", "chowns", "utimes"] {
        assert_eq!(
            result[kind][&path],
            json!("Operation not permitted"),
            "{kind}: {result}"
        );
    }
    let after = std::fs::metadata(&victim).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (after.mode(), after.uid(), after.mtime()),
        (before.mode(), before.uid(), before.mtime())
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sockets_and_unix_sockets_are_refused_unless_declared() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket_path = folder.path().join("service.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    // Open to every user, as PostgreSQL's socket is.
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let unix = format!("unix:{}", socket_path.display());
    let mut targets = vec![
        unix.clone(),
        "packet".to_owned(),
        "udp:127.0.0.1:9".to_owned(),
    ];
    let postgres = "/var/run/postgresql/.s.PGSQL.5432";
    if std::path::Path::new(postgres).exists() {
        targets.push(format!("unix:{postgres}"));
    }
    let refused = start_with("ok", 1, fast(), "");
    ready(&refused).await;
    let result = probe(&refused, json!({"socket": &targets})).await;
    for target in &targets {
        assert_eq!(
            result["sockets"][target],
            json!("Permission denied"),
            "{target} without permissions: {result}"
        );
    }
    refused.stop().await;

    let declared = start_with("ok", 1, fast(), "[permissions]\nunix_sockets = true\n");
    ready(&declared).await;
    let result = probe(&declared, json!({"socket": [&unix, "packet"]})).await;
    assert_eq!(result["sockets"][&unix], json!("ok"), "declared: {result}");
    assert_ne!(
        result["sockets"]["packet"],
        json!("ok"),
        "raw sockets stay refused: {result}"
    );
    declared.stop().await;
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_start_more_processes_than_its_limit() {
    let test = "a_plugin_cannot_start_more_processes_than_its_limit";
    if as_root(test).is_none() {
        return;
    }
    let setup = start_with("ok", 1, fast(), "[limits]\nprocesses = 40\n");
    ready(&setup).await;
    let pid = setup.supervisor().pick().expect("an instance").pid;
    let result = probe(&setup, json!({"spawn": 2000})).await;
    let text = result["spawn"].as_str().expect("a spawn answer").to_owned();
    let started: u32 = text
        .split_whitespace()
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(started < 40, "the limit holds: {text}");
    assert!(
        text.contains("Resource temporarily unavailable"),
        "the kernel refused the rest: {text}"
    );
    let children = children_of(pid);
    assert!(!children.is_empty(), "its children run");
    setup.stop().await;
    assert_gone(pid).await;
    for child in children {
        assert_gone(child).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_leaves_the_process_group_is_stopped_with_its_plugin() {
    let setup = start_with("ok", 1, fast(), "");
    ready(&setup).await;
    let tree = match &super::confinement::Confinement::shared_default().cgroups {
        Ok(tree) => tree.root().to_path_buf(),
        Err(reason) => {
            eprintln!("SKIPPED a_daemon_that_leaves_the_process_group_is_stopped_with_its_plugin: {reason}");
            setup.stop().await;
            return;
        }
    };
    let pid = setup.supervisor().pick().expect("an instance").pid;
    let result = probe(&setup, json!({"daemon": true})).await;
    let daemon: i32 = result["daemon"]
        .as_str()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("a daemon pid in {result}"));
    assert!(alive(daemon), "the daemon runs");
    // SAFETY: getpgid and getsid read another process's ids.
    let (group, session) = unsafe { (libc::getpgid(daemon), libc::getsid(daemon)) };
    assert_ne!(group, pid, "it left the plugin's process group");
    assert_ne!(session, unsafe { libc::getsid(pid) }, "and its session");
    setup.stop().await;
    assert_gone(pid).await;
    assert_gone(daemon).await;
    let left: Vec<_> = std::fs::read_dir(&tree)
        .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !left
            .iter()
            .any(|name| name.to_string_lossy().starts_with("scripted-")),
        "the instance's cgroup was removed: {left:?}"
    );
}

/// The pids whose parent is `parent`.
fn children_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
                .filter(|candidate| {
                    std::fs::read_to_string(format!("/proc/{candidate}/stat"))
                        .ok()
                        .and_then(|stat| {
                            stat.rsplit_once(") ").map(|(_, rest)| {
                                rest.split_whitespace().nth(1) == Some(&parent.to_string())
                            })
                        })
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handing_a_data_directory_to_a_plugin_follows_no_link() {
    let test = "handing_a_data_directory_to_a_plugin_follows_no_link";
    if as_root(test).is_none() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    // A data directory left by another user, with links pointing out and a folder inside.
    let directory = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("host-file");
    std::fs::write(&target, "the host's").unwrap();
    let data = directory.path().join("data");
    std::fs::create_dir_all(data.join("nested")).unwrap();
    std::fs::write(data.join("nested/own.txt"), "its own").unwrap();
    std::os::unix::fs::symlink(&target, data.join("link-to-file")).unwrap();
    std::os::unix::fs::symlink(outside.path(), data.join("link-to-folder")).unwrap();
    let setup = super::tests::start_plugin(
        directory,
        "scripted",
        r#"["python3", "scripted_plugin.py"]"#,
        "ok",
        fast(),
        "",
    );
    ready(&setup).await;
    let status = probe(&setup, json!({"identity": true})).await["identity"].clone();
    let uid: u32 = status["Uid"]
        .as_str()
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .unwrap();
    let data = setup._directory.path().join("data");
    assert_eq!(
        std::fs::metadata(data.join("nested/own.txt"))
            .unwrap()
            .uid(),
        uid
    );
    assert_eq!(
        std::fs::symlink_metadata(data.join("link-to-file"))
            .unwrap()
            .uid(),
        uid
    );
    assert_eq!(
        std::fs::metadata(&target).unwrap().uid(),
        0,
        "the link's target stays root's"
    );
    assert_eq!(
        std::fs::metadata(outside.path()).unwrap().uid(),
        0,
        "so does the folder's"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_make_a_user_namespace_nor_a_datagram_pair_but_keeps_stream_pairs() {
    let setup = start_with("ok", 1, fast(), "");
    ready(&setup).await;
    let result = probe(
        &setup,
        json!({"kernel": ["userns"], "socket": ["pair-stream", "pair-dgram"]}),
    )
    .await;
    assert_eq!(
        result["kernel"]["userns"],
        json!("Operation not permitted"),
        "no capabilities through a user namespace of its own: {result}"
    );
    assert_eq!(result["sockets"]["pair-stream"], json!("ok"), "{result}");
    assert_eq!(
        result["sockets"]["pair-dgram"],
        json!("Permission denied"),
        "a datagram pair could send to any socket by path: {result}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_share_neither_the_hosts_keyring_nor_shared_memory() {
    let first = start_with("ok", 1, fast(), "");
    let second = start_plugin(
        tempfile::tempdir().unwrap(),
        "second",
        r#"["python3", "scripted_plugin.py"]"#,
        "ok",
        fast(),
        "",
    );
    ready(&first).await;
    ready(&second).await;
    let name = format!("plugboard-test-{}", std::process::id());
    let written = probe(
        &first,
        json!({"kernel": ["keyring", format!("shm:{name}")]}),
    )
    .await;
    assert_eq!(
        written["kernel"][format!("shm:{name}")],
        json!("ok"),
        "{written}"
    );
    let read = probe(
        &second,
        json!({"kernel": ["keyring", format!("shm-read:{name}")]}),
    )
    .await;
    assert_eq!(
        read["kernel"][format!("shm-read:{name}")],
        json!("No such file or directory"),
        "another plugin's shared memory is not there: {read}"
    );
    assert!(
        !std::path::Path::new("/dev/shm").join(&name).exists(),
        "nor is it the host's"
    );
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) reads no memory.
    let host_keyring = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
    for answer in [&written, &read] {
        let keyring = &answer["kernel"]["keyring"];
        assert!(
            keyring.as_str().is_some_and(|id| id.parse::<i64>().is_ok()),
            "{answer}"
        );
        assert_ne!(
            keyring,
            &json!(host_keyring.to_string()),
            "the host's keyring: {answer}"
        );
    }
    assert_ne!(
        written["kernel"]["keyring"], read["kernel"]["keyring"],
        "each process has a session keyring of its own"
    );
    first.stop().await;
    second.stop().await;
}
