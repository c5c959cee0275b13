//! A cgroup (v2) per plugin instance: the whole process tree an instance starts, daemons that
//! double-forked out of its process group included, is found and killed with it, and where the
//! kernel lets plugboard distribute controllers, `pids.max` and `memory.max` hold for the tree.
//!
//! Owns: finding a writable cgroup v2 folder for this host, the folders below it, their limits,
//! killing and removing them, and sweeping the folders of hosts that died. Must not touch: the
//! processes themselves (a process joins its cgroup in `process.rs`, between fork and exec,
//! through the descriptor [`InstanceCgroup::procs_fd`] gives).
//!
//! Layout, beneath the cgroup the host runs in (`/proc/self/cgroup`, line `0::`):
//! `plugboard-<host pid>-<its start time>/<plugin id>-<n>/`. At start the host removes the `plugboard-…`
//! folders whose host is gone, killing what is left in them: a plugin's tree that outlived a
//! `kill -9` of the host lives at most until the next start.
//!
//! Known limits: without a writable cgroup v2 (a container without a delegated cgroup, a host
//! on cgroup v1 only) instances are contained by their process group only, which a `setsid`
//! daemon leaves; `plugboard doctor` says so. Controllers need the cgroup above to hand them
//! down (`cgroup.subtree_control`), which the kernel refuses where that cgroup holds processes
//! of its own; limits then fall back to rlimits.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use plugboard_protocol::manifest::Limits;

/// The controllers plugboard sets limits with, where it may.
const CONTROLLERS: &[&str] = &["pids", "memory"];

/// This host's folder of instance cgroups.
#[derive(Debug)]
pub struct CgroupTree {
    root: PathBuf,
    controllers: Vec<&'static str>,
    /// Why the controllers are not all there, for `plugboard doctor`.
    controllers_missing: Option<String>,
    next: std::sync::atomic::AtomicU64,
}

/// One instance's cgroup. Killed and removed by [`InstanceCgroup::kill_and_remove`].
#[derive(Debug)]
pub struct InstanceCgroup {
    path: PathBuf,
    procs: OwnedFd,
}

impl CgroupTree {
    /// Makes `plugboard-<pid>-<start time>` in the cgroup this process runs in, hands it the controllers it
    /// may, and removes the folders of hosts that are gone.
    ///
    /// # Errors
    /// Why this host cannot have one (no cgroup v2, not writable), in words for `doctor`.
    pub fn create() -> Result<CgroupTree, String> {
        let base = own_cgroup()?;
        sweep_stale(&base);
        let own = std::process::id() as i32;
        let started = start_time(own)
            .ok_or_else(|| "cannot read this process's start time in /proc/self/stat".to_owned())?;
        let root = base.join(format!("plugboard-{own}-{started}"));
        // A folder of this name is an earlier process's that had this pid: empty it first.
        if root.exists() {
            remove_tree(&root);
        }
        match std::fs::create_dir(&root) {
            Ok(()) => {}
            Err(error) => {
                return Err(format!(
                    "the cgroup {} is not writable ({error}); give plugboard a delegated cgroup (systemd: Delegate=yes; a container: a writable /sys/fs/cgroup)",
                    base.display()
                ))
            }
        }
        let available = read_words(&base.join("cgroup.controllers"));
        let mut controllers = Vec::new();
        let mut missing = Vec::new();
        for controller in CONTROLLERS {
            if !available.iter().any(|name| name == controller) {
                missing.push(format!(
                    "{controller} is not available in {}",
                    base.display()
                ));
                continue;
            }
            let enabled = enable(&base, controller).and_then(|()| enable(&root, controller));
            match enabled {
                Ok(()) => controllers.push(*controller),
                Err(error) => missing.push(format!("{controller}: {error}")),
            }
        }
        Ok(CgroupTree {
            root,
            controllers,
            controllers_missing: if missing.is_empty() {
                None
            } else {
                Some(missing.join("; "))
            },
            next: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// What [`CgroupTree::create`] would find, changing nothing: whether the host's cgroup is
    /// writable and which controllers it already hands down. For `plugboard doctor`.
    ///
    /// # Errors
    /// Why this host could not have a tree.
    pub fn inspect() -> Result<CgroupTree, String> {
        let base = own_cgroup()?;
        let c_base = std::ffi::CString::new(base.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("the cgroup path {} holds a NUL byte", base.display()))?;
        // SAFETY: access on a NUL-terminated path.
        if unsafe { libc::access(c_base.as_ptr(), libc::W_OK) } != 0 {
            return Err(format!(
                "the cgroup {} is not writable ({}); give plugboard a delegated cgroup (systemd: Delegate=yes; a container: a writable /sys/fs/cgroup)",
                base.display(),
                std::io::Error::last_os_error()
            ));
        }
        let available = read_words(&base.join("cgroup.controllers"));
        let handed_down = read_words(&base.join("cgroup.subtree_control"));
        let mut controllers = Vec::new();
        let mut missing = Vec::new();
        for controller in CONTROLLERS {
            if handed_down.iter().any(|name| name == controller) {
                controllers.push(*controller);
            } else if available.iter().any(|name| name == controller) {
                missing.push(format!("{controller} is available in {} but not handed down yet; `serve` hands it down at start where the kernel lets it", base.display()));
            } else {
                missing.push(format!(
                    "{controller} is not available in {}",
                    base.display()
                ));
            }
        }
        Ok(CgroupTree {
            root: base,
            controllers,
            controllers_missing: (!missing.is_empty()).then(|| missing.join("; ")),
            next: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// The folder of this host's instance cgroups (for [`CgroupTree::inspect`], the cgroup it
    /// would be made in).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The controllers whose limits hold (`pids`, `memory`).
    pub fn controllers(&self) -> &[&'static str] {
        &self.controllers
    }

    /// Why some controllers are missing, if they are.
    pub fn controllers_missing(&self) -> Option<&str> {
        self.controllers_missing.as_deref()
    }

    /// Makes a cgroup for a new instance of `plugin_id` with its limits.
    ///
    /// # Errors
    /// The folder or a limit could not be written.
    pub fn instance(&self, plugin_id: &str, limits: &Limits) -> Result<InstanceCgroup, String> {
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.root.join(format!("{plugin_id}-{number}"));
        std::fs::create_dir(&path)
            .map_err(|error| format!("cannot create the cgroup {}: {error}", path.display()))?;
        let write = |file: &str, value: String| {
            std::fs::write(path.join(file), &value).map_err(|error| {
                format!("cannot set {file} = {value} in {}: {error}", path.display())
            })
        };
        let limited = (|| {
            if self.controllers.contains(&"pids") {
                write("pids.max", limits.processes.to_string())?;
            }
            if self.controllers.contains(&"memory") {
                write(
                    "memory.max",
                    limits.memory_mb.saturating_mul(1024 * 1024).to_string(),
                )?;
                // Swapping out would only make a plugin over its limit slow instead of stopped.
                let _ = std::fs::write(path.join("memory.swap.max"), "0");
            }
            open_procs(&path)
        })();
        match limited {
            Ok(procs) => Ok(InstanceCgroup { path, procs }),
            Err(error) => {
                let _ = std::fs::remove_dir(&path);
                Err(error)
            }
        }
    }

    /// Kills whatever is left in every instance cgroup and removes the folders: at the host's
    /// stop, after every instance was stopped.
    pub async fn remove(&self) {
        let root = self.root.clone();
        let _ = tokio::task::spawn_blocking(move || remove_tree(&root)).await;
    }
}

impl InstanceCgroup {
    /// A descriptor of its `cgroup.procs`, open for writing: a process that writes `0` to it
    /// moves itself in.
    pub fn procs_fd(&self) -> i32 {
        self.procs.as_raw_fd()
    }

    /// Its folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Kills every process in it and removes it once the kernel says it is empty.
    pub async fn kill_and_remove(self) {
        let path = self.path.clone();
        drop(self.procs);
        let _ = tokio::task::spawn_blocking(move || kill_and_remove(&path)).await;
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is open as `procs_fd`.
/// Async-signal-safe: for `pre_exec`.
pub fn join(procs_fd: i32) -> std::io::Result<()> {
    // SAFETY: one write of a static buffer to a descriptor the parent opened.
    let written = unsafe { libc::write(procs_fd, b"0".as_ptr().cast(), 1) };
    if written != 1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The cgroup v2 folder this process runs in.
fn own_cgroup() -> Result<PathBuf, String> {
    let membership = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|error| format!("cannot read /proc/self/cgroup: {error}"))?;
    let relative = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| "this machine has no cgroup v2 hierarchy (only v1); boot with systemd.unified_cgroup_hierarchy=1 or run plugboard in a cgroup v2 container".to_owned())?;
    let mount = cgroup2_mount()?;
    let relative = relative.trim().trim_start_matches('/');
    Ok(if relative.is_empty() {
        mount
    } else {
        mount.join(relative)
    })
}

/// Where cgroup v2 is mounted, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Result<PathBuf, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|error| format!("cannot read /proc/self/mountinfo: {error}"))?;
    mountinfo
        .lines()
        .find_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            if after.split_whitespace().next() != Some("cgroup2") {
                return None;
            }
            before.split_whitespace().nth(4).map(PathBuf::from)
        })
        .ok_or_else(|| "cgroup v2 is not mounted here; mount it (mount -t cgroup2 none /sys/fs/cgroup) or run plugboard where it is".to_owned())
}

fn read_words(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| text.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Hands `controller` down from `folder` to its children.
fn enable(folder: &Path, controller: &str) -> Result<(), String> {
    if read_words(&folder.join("cgroup.subtree_control"))
        .iter()
        .any(|name| name == controller)
    {
        return Ok(());
    }
    std::fs::write(
        folder.join("cgroup.subtree_control"),
        format!("+{controller}"),
    )
    .map_err(|error| {
        let hint = if error.raw_os_error() == Some(libc::EBUSY) {
            " (it holds processes of its own; run plugboard in a child cgroup of the delegated one)"
        } else {
            ""
        };
        format!(
            "cannot hand it down from {} ({error}){hint}",
            folder.display()
        )
    })
}

fn open_procs(path: &Path) -> Result<OwnedFd, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path.join("cgroup.procs"))
        .map_err(|error| format!("cannot open {}/cgroup.procs: {error}", path.display()))?;
    Ok(OwnedFd::from(file))
}

fn populated(path: &Path) -> bool {
    std::fs::read_to_string(path.join("cgroup.events"))
        .map(|events| events.lines().any(|line| line == "populated 1"))
        .unwrap_or(false)
}

/// Kills everything in the cgroup at `path` (with `cgroup.kill`, or one process at a time on
/// kernels before 5.14) and removes it. Blocking; waits at most about 5 s.
fn kill_and_remove(path: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if std::fs::write(path.join("cgroup.kill"), "1").is_err() {
            for pid in std::fs::read_to_string(path.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.trim().parse::<i32>().ok())
            {
                // SAFETY: kill(2) touches no memory.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if !populated(path) || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Err(error) = std::fs::remove_dir(path) {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(cgroup = %path.display(), "cannot remove a plugin instance's cgroup: {error}");
        }
    }
}

/// Kills and removes every cgroup beneath `root`, then `root`.
fn remove_tree(root: &Path) {
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                kill_and_remove(&entry.path());
            }
        }
    }
    kill_and_remove(root);
}

/// Removes the `plugboard-<pid>-<start time>` folders in `base` whose host no longer runs.
fn sweep_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, started)) = name
            .to_str()
            .and_then(|name| name.strip_prefix("plugboard-"))
            .and_then(parse_host)
        else {
            continue;
        };
        if host_alive(pid, started) {
            continue;
        }
        let left = tree_populated(&entry.path());
        if left {
            tracing::warn!(
                cgroup = %entry.path().display(),
                "killing what the plugins of a plugboard that is gone (pid {pid}) left running, and removing their cgroups"
            );
        }
        remove_tree(&entry.path());
    }
}

/// True when a process runs anywhere beneath `root`.
fn tree_populated(root: &Path) -> bool {
    populated(root)
        || std::fs::read_dir(root)
            .map(|entries| entries.flatten().any(|entry| populated(&entry.path())))
            .unwrap_or(false)
}

/// `<pid>-<start time>`, or `<pid>` alone as written before start times were.
fn parse_host(text: &str) -> Option<(i32, Option<u64>)> {
    match text.split_once('-') {
        Some((pid, started)) => Some((pid.parse().ok()?, Some(started.parse().ok()?))),
        None => Some((text.parse().ok()?, None)),
    }
}

/// True when a process with `pid` runs and started at `started` (clock ticks since boot): the
/// host that made the folder. A process that took the pid later, a plugin's among them, has
/// another start time. Without a start time, any process with the pid counts.
fn host_alive(pid: i32, started: Option<u64>) -> bool {
    match (start_time(pid), started) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from its closing one.
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_known_by_its_pid_and_start_time() {
        let own = std::process::id() as i32;
        let started = start_time(own).expect("this process's start time");
        assert!(host_alive(own, Some(started)));
        assert!(
            !host_alive(own, Some(started + 1)),
            "another process with the same pid"
        );
        assert_eq!(
            parse_host(&format!("{own}-{started}")),
            Some((own, Some(started)))
        );
        assert_eq!(parse_host("42"), Some((42, None)));
        assert_eq!(parse_host("x-1"), None);
    }
}
