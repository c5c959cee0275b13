//! Starting a plugin process inside its confinement, reading its log, and stopping it.
//!
//! Each process gets: a cleared environment (only `PATH`, `HOME` = its data directory, `LANG`,
//! the manifest's `env` and the host variables it lists in `permissions.env`, never
//! plugboard's own `PLUGBOARD_*`), its package folder as working directory, a process group of
//! its own, a cgroup of its own where the host has a cgroup tree (`cgroup.rs`), no descriptor
//! of the host's but its pipes, then the loss of every privilege (`privileges.rs`: its own
//! user and group when plugboard is root, no capabilities, locked securebits, network and IPC
//! namespaces), `PR_SET_PDEATHSIG` (it dies with the host, even on `kill -9`), `no_new_privs`,
//! rlimits on address space, open files, processes and (when set) CPU time, a Landlock ruleset
//! where the kernel has Landlock (`sandbox.rs` is the policy, `landlock.rs` the system calls),
//! and last a seccomp filter on the socket families it may open.
//!
//! Where the kernel lacks Landlock, an ABI version, namespaces or a writable cgroup v2, plugins
//! run without that part; the host says so once at start (`protections.rs`). Where the kernel
//! has it and it cannot be applied, the plugin is not started: it never runs less confined
//! than the host reported. `PR_SET_PDEATHSIG` fires when the thread that spawned the child
//! ends; plugboard spawns from its runtime's worker threads, which live as long as the process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use plugboard_protocol::manifest::Limits;
use plugboard_protocol::Manifest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use super::cgroup::InstanceCgroup;
use super::confinement::Confinement;
use super::privileges::{PrivateShm, PrivilegeDrop, SocketFamilies, UserNamespace};

/// The longest stderr line kept; the rest of a longer line is cut with a note.
pub const MAX_LOG_LINE: usize = 8 * 1024;
/// Stderr lines kept per second per process; beyond, lines are counted and dropped.
pub const MAX_LOG_LINES_PER_SECOND: u32 = 200;

/// A started plugin process and its pipes.
pub struct PluginProcess {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    pub pid: i32,
    /// The cgroup its whole tree lives in, where the host has one: killed and removed when the
    /// instance ends.
    pub cgroup: Option<InstanceCgroup>,
    /// The user and group it runs as, when not the host's.
    pub identity: Option<(u32, u32)>,
}

/// Why a plugin could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot start `{program}` in {directory}: {reason}; check the manifest's `command` and that the program exists and is executable")]
    Start {
        program: String,
        directory: String,
        reason: String,
    },
    #[error("cannot prepare the plugin's data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("cannot confine `{program}`: {reason}; the plugin is not started unconfined, see `plugboard doctor`")]
    Confine { program: String, reason: String },
    #[error("the plugin's user (uid {uid}) cannot reach {path}: the folder {blocking} is closed to it (mode {mode:o}); make every folder above the plugin searchable by others (chmod o+x {blocking}) or move it")]
    Unreachable {
        uid: u32,
        path: String,
        blocking: String,
        mode: u32,
    },
}

/// Where a plugin lives on disk.
#[derive(Debug, Clone)]
pub struct PluginPaths {
    /// The unpacked package (read-only for the plugin), its working directory.
    pub package_dir: PathBuf,
    /// Its own writable directory.
    pub data_dir: PathBuf,
}

/// Starts one process of the plugin, confined as `confinement` allows on this host.
pub fn spawn(
    manifest: &Manifest,
    paths: &PluginPaths,
    confinement: &Confinement,
) -> Result<PluginProcess, SpawnError> {
    let identity = confinement.identities.for_plugin(&manifest.id);
    prepare_data_dir(&paths.data_dir, identity)?;
    let program = resolve_program(&manifest.command[0], &paths.package_dir);
    if let Some((uid, gid)) = identity {
        check_reachable(&paths.package_dir, uid, gid)?;
        check_reachable(&paths.data_dir, uid, gid)?;
    }
    // With a PID namespace, plugboard's own binary starts first as the namespace's init.
    let init = super::init::InitBinary::get().filter(|_| confinement.namespaces.is_ok());
    let mut command = match init {
        Some(init) => {
            let mut command = Command::new(init.program());
            command
                .arg0("plugboard-plugin-init")
                .arg(super::init::INIT_ARGUMENT)
                .arg(&program);
            command
        }
        None => Command::new(&program),
    };
    command
        .args(&manifest.command[1..])
        .current_dir(&paths.package_dir)
        .env_clear()
        .env("PATH", super::sandbox::PLUGIN_PATH)
        .env("HOME", &paths.data_dir)
        .env("TMPDIR", &paths.data_dir)
        .env("LANG", "C.UTF-8")
        .env("PLUGBOARD_PLUGIN_ID", &manifest.id)
        .env("PLUGBOARD_DATA_DIR", &paths.data_dir);
    // Python dependencies built into the package (`plugboard plugin pack`), unless the manifest
    // names its own path.
    let python_deps = paths.package_dir.join(super::package::PYTHON_DEPS);
    if python_deps.is_dir() {
        command.env("PYTHONPATH", &python_deps);
    }
    command
        .envs(&manifest.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in &manifest.permissions.env {
        // The host's own settings and secrets never reach a plugin, whatever it asks for.
        if super::sandbox::is_host_variable(name) {
            continue;
        }
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let confine_error = |reason: String| SpawnError::Confine {
        program: program.display().to_string(),
        reason,
    };
    let ruleset = if super::landlock::abi_version().is_ok() {
        let mut rules = super::sandbox::rules(manifest, paths, &program);
        if let Some(init) = init {
            rules.paths.push(super::landlock::PathRule {
                path: init.path().to_path_buf(),
                access: super::landlock::Access::READ | super::landlock::Access::EXECUTE,
            });
        }
        Some(super::landlock::Ruleset::build(&rules).map_err(confine_error)?)
    } else {
        // Without Landlock the host said so at start (`protections::Protections::log_missing`).
        None
    };
    let cgroup = match &confinement.cgroups {
        Ok(tree) => Some(
            tree.instance(&manifest.id, &manifest.limits)
                .map_err(confine_error)?,
        ),
        // Without a cgroup tree the host said so at start.
        Err(_) => None,
    };
    let mut namespaces = 0;
    let mut private_shm = None;
    if confinement.namespaces.is_ok() {
        namespaces |= libc::CLONE_NEWIPC;
        if init.is_some() {
            namespaces |= libc::CLONE_NEWPID;
        }
        if !manifest.permissions.network {
            namespaces |= libc::CLONE_NEWNET;
        }
        if Path::new(super::privileges::SHM).is_dir() {
            namespaces |= libc::CLONE_NEWNS;
            private_shm = Some(PrivateShm::new(manifest.limits.memory_mb));
        }
    }
    // The private /dev/shm exists only in the child: its Landlock rule is added there.
    let shm_rule = match (&ruleset, &private_shm) {
        (Some(_), Some(_)) => Some((
            std::ffi::CString::new(super::privileges::SHM).expect("no NUL in a fixed path"),
            super::landlock::read_write_rights(),
        )),
        _ => None,
    };
    let privileges = PrivilegeDrop {
        identity,
        user_namespace: (namespaces != 0 && confinement.needs_user_namespace())
            .then(UserNamespace::for_current_user),
        namespaces,
        cap_last: super::privileges::cap_last(),
        seccomp: super::privileges::seccomp_program(SocketFamilies {
            network: manifest.permissions.network,
            unix: manifest.permissions.unix_sockets,
        }),
        private_shm,
    };
    confine(
        &mut command,
        Confine {
            limits: manifest.limits.clone(),
            landlock_ruleset: ruleset.as_ref().map(|ruleset| ruleset.raw_fd()),
            shm_rule,
            cgroup_procs: cgroup.as_ref().map(InstanceCgroup::procs_fd),
            privileges,
            // SAFETY: getpid cannot fail and touches no memory.
            parent: unsafe { libc::getpid() },
        },
    );
    let spawned = command.spawn();
    // The child has its own copy of the ruleset (or none); ours can go.
    drop(ruleset);
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            if let Some(cgroup) = cgroup {
                let _ = std::fs::remove_dir(cgroup.path());
            }
            return Err(SpawnError::Start {
                program: program.display().to_string(),
                directory: paths.package_dir.display().to_string(),
                reason: error.to_string(),
            });
        }
    };
    let pid = child.id().map(|pid| pid as i32).unwrap_or(0);
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(SpawnError::Start {
            program: program.display().to_string(),
            directory: paths.package_dir.display().to_string(),
            reason: "its pipes could not be opened".to_owned(),
        });
    };
    Ok(PluginProcess {
        child,
        stdin,
        stdout,
        stderr,
        pid,
        cgroup,
        identity,
    })
}

/// Creates the plugin's data directory, owned by the user it runs as and closed to others.
/// A directory that belonged to another user (the setting changed, or the plugin's id moved)
/// is handed over with everything in it.
fn prepare_data_dir(path: &Path, identity: Option<(u32, u32)>) -> Result<(), SpawnError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let error = |reason: String| SpawnError::DataDir {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(path).map_err(|failure| error(failure.to_string()))?;
    if let Some((uid, gid)) = identity {
        let meta = std::fs::symlink_metadata(path).map_err(|failure| error(failure.to_string()))?;
        if meta.uid() != uid || meta.gid() != gid {
            chown_tree(path, uid, gid).map_err(|failure| {
                error(format!("cannot hand it to uid {uid}, gid {gid}: {failure}"))
            })?;
        }
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|failure| error(failure.to_string()))
}

/// Gives `path` and everything beneath it to `uid`:`gid`, following no link: each folder is
/// opened relative to its parent's descriptor with `O_NOFOLLOW`, so a link swapped in while
/// this runs is changed itself, never what it points to.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: open on a NUL-terminated path; the descriptor is owned below.
    let fd = unsafe { libc::open(c_path.as_ptr(), DIRECTORY_FLAGS) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just opened and is owned by nothing else.
    let folder = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    chown_beneath(&folder, uid, gid, 0)
}

const DIRECTORY_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// Folders deeper than this are not handed over (the plugin is not started, with the reason).
const MAX_DEPTH: usize = 128;

fn chown_beneath(
    folder: &std::os::fd::OwnedFd,
    uid: u32,
    gid: u32,
    depth: usize,
) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    if depth > MAX_DEPTH {
        return Err(std::io::Error::other(format!(
            "it is nested more than {MAX_DEPTH} folders deep"
        )));
    }
    let fd = folder.as_raw_fd();
    // SAFETY: fchown on a descriptor we own.
    if unsafe { libc::fchown(fd, uid, gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The listing goes through the descriptor's own link: the folder that was opened.
    for entry in std::fs::read_dir(format!("/proc/self/fd/{fd}"))? {
        let name = std::ffi::CString::new(entry?.file_name().as_bytes())?;
        // SAFETY: openat on a NUL-terminated name relative to a descriptor we own.
        let child = unsafe { libc::openat(fd, name.as_ptr(), DIRECTORY_FLAGS) };
        if child >= 0 {
            // SAFETY: just opened, owned by nothing else.
            let child = unsafe { std::os::fd::OwnedFd::from_raw_fd(child) };
            chown_beneath(&child, uid, gid, depth + 1)?;
            continue;
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            // A file, a link (changed itself), a device or a pipe.
            Some(libc::ENOTDIR) | Some(libc::ELOOP) => {
                // SAFETY: fchownat on a name relative to a descriptor we own, not following links.
                let changed = unsafe {
                    libc::fchownat(fd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW)
                };
                if changed != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Gone meanwhile.
            Some(libc::ENOENT) => {}
            _ => return Err(error),
        }
    }
    Ok(())
}

/// Checks that `uid`:`gid` may search every folder above `path` (and `path`'s own folder), so
/// a plugin that cannot reach its package fails with the folder to fix, not an obscure
/// `Permission denied` from its interpreter.
fn check_reachable(path: &Path, uid: u32, gid: u32) -> Result<(), SpawnError> {
    use std::os::unix::fs::MetadataExt;
    for folder in path.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(folder) else {
            continue;
        };
        let mode = meta.mode();
        let searchable = if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !searchable {
            return Err(SpawnError::Unreachable {
                uid,
                path: path.display().to_string(),
                blocking: folder.display().to_string(),
                mode: mode & 0o7777,
            });
        }
    }
    Ok(())
}

/// A program named with a path (`./run`, `bin/plugin`) is found in the package; a bare name
/// (`python3`) on `PATH`, unless the package has a file of that name.
fn resolve_program(program: &str, package_dir: &Path) -> PathBuf {
    let in_package = package_dir.join(program);
    if program.contains('/') || in_package.is_file() {
        in_package
    } else {
        PathBuf::from(program)
    }
}

/// Everything the child applies to itself between fork and exec, prepared before the fork.
struct Confine {
    limits: Limits,
    landlock_ruleset: Option<i32>,
    /// The private `/dev/shm` and the Landlock rights on it, added to the ruleset in the child.
    shm_rule: Option<(std::ffi::CString, u64)>,
    cgroup_procs: Option<i32>,
    privileges: PrivilegeDrop,
    /// The host's pid: a child whose parent died before its death signal was set exits.
    parent: i32,
}

fn confine(command: &mut Command, confine: Confine) {
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (setpgid, write, prctl, unshare, set*id, setrlimit, the
    // Landlock and seccomp system calls) on values computed before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // While still privileged: joining a cgroup needs write access to it.
            if let Some(procs) = confine.cgroup_procs {
                super::cgroup::join(procs)?;
            }
            super::privileges::close_inherited_descriptors()?;
            confine.privileges.apply()?;
            // After the change of user, which clears it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != confine.parent {
                return Err(std::io::Error::other(
                    "the host exited while the plugin started",
                ));
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Never above the hard limit the host itself has: raising it needs privileges, and a
            // failed setrlimit would stop the plugin from starting at all (`plugboard doctor`
            // shows when a manifest's limit is capped this way).
            let set = |resource, value: u64| {
                let mut current = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: libc::RLIM_INFINITY,
                };
                let mut value = value as libc::rlim_t;
                if libc::getrlimit(resource, &mut current) == 0 && current.rlim_max < value {
                    value = current.rlim_max;
                }
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            let limits = &confine.limits;
            set(
                libc::RLIMIT_AS,
                limits.memory_mb.saturating_mul(1024 * 1024),
            )?;
            set(libc::RLIMIT_NOFILE, limits.open_files)?;
            set(libc::RLIMIT_NPROC, limits.processes)?;
            if let Some(seconds) = limits.cpu_seconds {
                set(libc::RLIMIT_CPU, seconds)?;
            }
            if let Some(ruleset) = confine.landlock_ruleset {
                if let Some((shm, rights)) = &confine.shm_rule {
                    super::landlock::allow_in_child(ruleset, shm, *rights)?;
                }
                super::landlock::restrict_self(ruleset)?;
            }
            confine.privileges.apply_seccomp()?;
            Ok(())
        });
    }
}

/// Forwards a plugin's stderr to the host's log, line by line, with bounded memory: long lines
/// are cut, and past [`MAX_LOG_LINES_PER_SECOND`] lines are dropped with a count.
pub async fn forward_stderr(
    label: String,
    stderr: ChildStderr,
    mut sink: impl FnMut(String) + Send + 'static,
) {
    let mut reader = BufReader::with_capacity(16 * 1024, stderr);
    let mut line = Vec::with_capacity(1024);
    let mut window_start = tokio::time::Instant::now();
    let mut in_window = 0u32;
    let mut dropped = 0u64;
    loop {
        line.clear();
        let read = read_capped_line(&mut reader, &mut line).await;
        let Ok(Some(cut)) = read else { break };
        if window_start.elapsed() >= Duration::from_secs(1) {
            if dropped > 0 {
                sink(format!("[plugboard] {dropped} log lines of this plugin were dropped: it wrote more than {MAX_LOG_LINES_PER_SECOND} lines per second"));
                dropped = 0;
            }
            window_start = tokio::time::Instant::now();
            in_window = 0;
        }
        in_window += 1;
        if in_window > MAX_LOG_LINES_PER_SECOND {
            dropped += 1;
            continue;
        }
        let mut text = String::from_utf8_lossy(&line).trim_end().to_owned();
        if cut {
            text.push_str(" [plugboard: line cut at 8 KiB]");
        }
        sink(text);
    }
    if dropped > 0 {
        sink(format!("[plugboard] {dropped} log lines of this plugin were dropped: it wrote more than {MAX_LOG_LINES_PER_SECOND} lines per second"));
    }
    tracing::debug!(plugin = %label, "stderr closed");
}

/// Reads one line into `line`, keeping at most [`MAX_LOG_LINE`] bytes. `Ok(Some(cut))` for a
/// line, `Ok(None)` at the end.
async fn read_capped_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut cut = false;
    let mut any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if any { Some(cut) } else { None });
        }
        any = true;
        let (chunk, end) = match available.iter().position(|byte| *byte == b'\n') {
            Some(position) => (&available[..position], Some(position + 1)),
            None => (available, None),
        };
        let room = MAX_LOG_LINE.saturating_sub(line.len());
        if chunk.len() > room {
            cut = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let consumed = end.unwrap_or(available.len());
        reader.consume(consumed);
        if end.is_some() {
            return Ok(Some(cut));
        }
    }
}

/// Sends `signal` to the process group `pid` leads.
pub fn signal_group(pid: i32, signal: i32) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}
