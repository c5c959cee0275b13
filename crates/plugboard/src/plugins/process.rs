//! Starting a plugin process inside its confinement, reading its log, and stopping it.
//!
//! Each process gets: a cleared environment (only `PATH`, `HOME` = its data directory, `LANG`,
//! the manifest's `env` and the host variables it lists in `permissions.env`), its package
//! folder as working directory, a process group of its own (so a stop reaches its children),
//! `PR_SET_PDEATHSIG` (it dies with the host, even on `kill -9`), `no_new_privs`, rlimits
//! on address space, open files, processes and (when set) CPU time, and where the kernel has
//! Landlock a ruleset: reads, writes and executions beneath the paths `sandbox.rs` lists, TCP
//! only when the manifest declares `permissions.network` (ABI 4 and later), and no signals to
//! processes outside its own (ABI 6 and later).
//!
//! Where the kernel lacks Landlock, or an ABI version, plugins run without that part; the host
//! says so once at start (`protections.rs`). Where the kernel has Landlock and a ruleset cannot
//! be built, the plugin is not started: it never runs less confined than the host reported.
//! `PR_SET_PDEATHSIG` fires when the thread that spawned the child ends; plugboard spawns
//! from its runtime's worker threads, which live as long as the process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use plugboard_protocol::manifest::Limits;
use plugboard_protocol::Manifest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

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
    #[error("cannot create the plugin's data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("cannot confine `{program}`: {reason}; the plugin is not started unconfined, see `plugboard doctor`")]
    Confine { program: String, reason: String },
}

/// Where a plugin lives on disk.
#[derive(Debug, Clone)]
pub struct PluginPaths {
    /// The unpacked package (read-only for the plugin), its working directory.
    pub package_dir: PathBuf,
    /// Its own writable directory.
    pub data_dir: PathBuf,
}

/// Starts one process of the plugin.
pub fn spawn(manifest: &Manifest, paths: &PluginPaths) -> Result<PluginProcess, SpawnError> {
    std::fs::create_dir_all(&paths.data_dir).map_err(|error| SpawnError::DataDir {
        path: paths.data_dir.display().to_string(),
        reason: error.to_string(),
    })?;
    let program = resolve_program(&manifest.command[0], &paths.package_dir);
    let mut command = Command::new(&program);
    command
        .args(&manifest.command[1..])
        .current_dir(&paths.package_dir)
        .env_clear()
        .env("PATH", super::sandbox::PLUGIN_PATH)
        .env("HOME", &paths.data_dir)
        .env("TMPDIR", &paths.data_dir)
        .env("LANG", "C.UTF-8")
        .env("PLUGBOARD_PLUGIN_ID", &manifest.id)
        .env("PLUGBOARD_DATA_DIR", &paths.data_dir)
        .envs(&manifest.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in &manifest.permissions.env {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let ruleset = if super::landlock::abi_version().is_ok() {
        let rules = super::sandbox::rules(manifest, paths, &program);
        let ruleset =
            super::landlock::Ruleset::build(&rules).map_err(|reason| SpawnError::Confine {
                program: program.display().to_string(),
                reason,
            })?;
        Some(ruleset)
    } else {
        // Without Landlock the host said so at start (`protections::Protections::log_missing`).
        None
    };
    confine(
        &mut command,
        manifest.limits.clone(),
        ruleset.as_ref().map(|ruleset| ruleset.raw_fd()),
    );
    let spawned = command.spawn();
    // The child has its own copy of the ruleset (or none); ours can go.
    drop(ruleset);
    let mut child = spawned.map_err(|error| SpawnError::Start {
        program: program.display().to_string(),
        directory: paths.package_dir.display().to_string(),
        reason: error.to_string(),
    })?;
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
    })
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

fn confine(command: &mut Command, limits: Limits, landlock_ruleset: Option<i32>) {
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe functions (setpgid, prctl, setrlimit) on values computed before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
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
            set(
                libc::RLIMIT_AS,
                limits.memory_mb.saturating_mul(1024 * 1024),
            )?;
            set(libc::RLIMIT_NOFILE, limits.open_files)?;
            set(libc::RLIMIT_NPROC, limits.processes)?;
            if let Some(seconds) = limits.cpu_seconds {
                set(libc::RLIMIT_CPU, seconds)?;
            }
            if let Some(ruleset) = landlock_ruleset {
                super::landlock::restrict_self(ruleset)?;
            }
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
