//! The supervisor: keeps a plugin's processes running, warm and answering.
//!
//! Each instance goes stopped → starting → ready → stopping → stopped, or failed. Starting means
//! spawning the process in its confinement and the `initialize` handshake within a timeout; a
//! plugin that speaks another protocol version, or says it is another plugin, fails at once
//! (restarting would not help). A process that exits while ready is restarted after a backoff
//! that doubles (from `restart_backoff` up to `max_restart_backoff`); `crash_loop_limit` crashes
//! within `crash_loop_window` mark the instance failed with the last reason. Stopping is
//! graceful: `shutdown`, stdin closed, SIGTERM to the process group, SIGKILL after the grace
//! period. A process that stops reading its stdin (`ConnectionLimits::write_stall`) is killed at
//! once and counts as a crash; so is an idle one that does not answer `ping` in time (a plugin
//! stuck in a loop or deadlocked between requests).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugboard_protocol::methods::{HostInfo, InitializeParams, InitializeResult};
use plugboard_protocol::{Manifest, Metadata, PROTOCOL_VERSION};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::confinement::Confinement;
use super::process::{self, PluginPaths};
use super::rpc::{ConnectionLimits, ConnectionParams, HostServices, RpcClient, RpcError};

/// Where an instance is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    Stopped,
    Starting,
    Ready,
    Stopping,
    /// Gave up, with why.
    Failed(String),
}

/// How the supervisor treats its processes.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// Time for `shutdown`, then for SIGTERM, before SIGKILL. Default 5 s.
    pub stop_grace: Duration,
    /// First wait before a restart. Default 500 ms.
    pub restart_backoff: Duration,
    /// Longest wait before a restart. Default 30 s.
    pub max_restart_backoff: Duration,
    /// Crashes within `crash_loop_window` that make the instance failed. Default 5.
    pub crash_loop_limit: usize,
    /// Default 60 s.
    pub crash_loop_window: Duration,
    /// Who the processes run as, their namespaces and cgroups. Default: `plugin_user = "auto"`.
    pub confinement: Arc<Confinement>,
    /// The bytes queued for each process and how long a write to it may stall; see
    /// [`ConnectionLimits`]. A process that stops reading is replaced like one that crashed.
    pub connection: ConnectionLimits,
    /// How often an idle ready process (no request in flight) is sent `ping`. Default 30 s.
    pub ping_interval: Duration,
    /// How long a `ping` may take before the process is replaced as hung. Default 10 s.
    pub ping_timeout: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> SupervisorConfig {
        SupervisorConfig {
            handshake_timeout: Duration::from_secs(10),
            stop_grace: Duration::from_secs(5),
            restart_backoff: Duration::from_millis(500),
            max_restart_backoff: Duration::from_secs(30),
            crash_loop_limit: 5,
            crash_loop_window: Duration::from_secs(60),
            confinement: Confinement::shared_default(),
            connection: ConnectionLimits::default(),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(10),
        }
    }
}

/// A ready instance: its connection and what it declared.
#[derive(Clone)]
pub struct ReadyInstance {
    pub rpc: RpcClient,
    pub metadata: Arc<Metadata>,
    pub pid: i32,
}

struct Slot {
    state: watch::Sender<InstanceState>,
    ready: Mutex<Option<ReadyInstance>>,
    /// Set when the host killed the process on purpose (a hung run): its exit is a replacement,
    /// not a crash, and does not count towards the crash loop.
    replaced: std::sync::atomic::AtomicBool,
    /// Set when the current process answered its handshake.
    reached_ready: std::sync::atomic::AtomicBool,
    /// What the last process to answer its handshake declared; kept while a replacement
    /// starts, so that its routes answer "not ready" rather than "no such route".
    declared: Mutex<Option<Arc<Metadata>>>,
}

/// How a plugin process ended, for the jobs it was running: its exit status and last stderr
/// lines.
#[derive(Debug, Clone)]
pub struct ProcessExit {
    pub pid: i32,
    /// `exit status: 3`, `signal: 9 (SIGKILL)`, …
    pub status: String,
    /// Its last lines on stderr, oldest first (at most [`STDERR_TAIL`]).
    pub stderr_tail: Vec<String>,
}

impl ProcessExit {
    /// `exited (exit status: 3); its last stderr lines: a | b`.
    pub fn describe(&self, what: &str) -> String {
        if self.stderr_tail.is_empty() {
            format!("{what} ({}) and wrote nothing on stderr", self.status)
        } else {
            format!(
                "{what} ({}); its last stderr lines: {}",
                self.status,
                self.stderr_tail.join(" | ")
            )
        }
    }
}

/// Stderr lines of a process kept to say how it ended.
pub const STDERR_TAIL: usize = 10;

/// The last processes of a plugin to end, for [`Supervisor::exit_of`].
#[derive(Default)]
struct Exits {
    recent: Mutex<VecDeque<Arc<ProcessExit>>>,
    added: tokio::sync::Notify,
}

impl Exits {
    fn add(&self, exit: ProcessExit) {
        let mut recent = lock(&self.recent);
        if recent.len() == 16 {
            recent.pop_front();
        }
        recent.push_back(Arc::new(exit));
        drop(recent);
        self.added.notify_waiters();
    }

    fn find(&self, pid: i32) -> Option<Arc<ProcessExit>> {
        lock(&self.recent)
            .iter()
            .rev()
            .find(|exit| exit.pid == pid)
            .cloned()
    }
}

/// The running instances of one plugin.
pub struct Supervisor {
    manifest: Arc<Manifest>,
    exits: Arc<Exits>,
    slots: Vec<Arc<Slot>>,
    restarts: Arc<std::sync::atomic::AtomicU64>,
    stop: CancellationToken,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Supervisor {
    /// Starts `manifest.instances` processes of the plugin.
    pub fn start(
        manifest: Manifest,
        paths: PluginPaths,
        services: Arc<dyn HostServices>,
        config: SupervisorConfig,
    ) -> Supervisor {
        let manifest = Arc::new(manifest);
        let stop = CancellationToken::new();
        let ids = Arc::new(std::sync::atomic::AtomicI64::new(1));
        let restarts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let exits = Arc::new(Exits::default());
        let mut slots = Vec::new();
        let mut tasks = Vec::new();
        for index in 0..manifest.instances as usize {
            let (state, _) = watch::channel(InstanceState::Stopped);
            let slot = Arc::new(Slot {
                state,
                ready: Mutex::new(None),
                replaced: std::sync::atomic::AtomicBool::new(false),
                reached_ready: std::sync::atomic::AtomicBool::new(false),
                declared: Mutex::new(None),
            });
            let instance = Instance {
                label: format!("{}#{index}", manifest.id),
                manifest: manifest.clone(),
                paths: paths.clone(),
                services: services.clone(),
                config: config.clone(),
                slot: slot.clone(),
                stop: stop.clone(),
                ids: ids.clone(),
                restarts: restarts.clone(),
                exits: exits.clone(),
            };
            tasks.push(tokio::spawn(instance.run()));
            slots.push(slot);
        }
        Supervisor {
            manifest,
            exits,
            slots,
            restarts,
            stop,
            tasks: Mutex::new(tasks),
        }
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The state of each instance.
    pub fn states(&self) -> Vec<InstanceState> {
        self.slots
            .iter()
            .map(|slot| slot.state.borrow().clone())
            .collect()
    }

    /// Watches the state of instance `index`.
    pub fn watch_state(&self, index: usize) -> Option<watch::Receiver<InstanceState>> {
        self.slots.get(index).map(|slot| slot.state.subscribe())
    }

    /// The ready instance with the fewest requests in flight, if any has room under the
    /// manifest's concurrency.
    pub fn pick(&self) -> Option<ReadyInstance> {
        let concurrency = self.manifest.concurrency as usize;
        self.slots
            .iter()
            .filter_map(|slot| lock(&slot.ready).clone())
            // A process that just ended is still listed until its task has seen it exit.
            .filter(|ready| !ready.rpc.is_closed())
            .filter(|ready| ready.rpc.in_flight() < concurrency)
            .min_by_key(|ready| ready.rpc.in_flight())
    }

    /// What a ready instance declared at its handshake.
    pub fn metadata(&self) -> Option<Metadata> {
        self.slots.iter().find_map(|slot| {
            lock(&slot.ready)
                .as_ref()
                .map(|ready| (*ready.metadata).clone())
        })
    }

    /// What an instance of this version last declared at its handshake, ready now or not;
    /// `None` before the first handshake.
    pub fn declared(&self) -> Option<Arc<Metadata>> {
        self.slots
            .iter()
            .find_map(|slot| lock(&slot.declared).clone())
    }

    /// The plugin's id and version.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// Waits until every instance is ready, or one failed (its reason is the error).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for slot in &self.slots {
            let mut state = slot.state.subscribe();
            loop {
                match state.borrow_and_update().clone() {
                    InstanceState::Ready => break,
                    InstanceState::Failed(reason) => return Err(reason),
                    _ => {}
                }
                match tokio::time::timeout_at(deadline, state.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err("the supervisor stopped".to_owned()),
                    Err(_) => {
                        return Err(format!(
                            "plugin {} was not ready within {} ms",
                            self.manifest.id,
                            timeout.as_millis()
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Replaces instance `pid`'s process (for example after a job hung in it): it is killed and
    /// the supervisor starts a new one.
    pub fn replace(&self, pid: i32) {
        for slot in &self.slots {
            let mut ready = lock(&slot.ready);
            // Only a process this supervisor still runs: a reaped pid may belong to another.
            if ready.as_ref().is_some_and(|instance| instance.pid == pid) {
                *ready = None;
                slot.replaced
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                // Not ready from now on, not only once its task has seen the process end:
                // `wait_ready` must wait for the replacement.
                slot.state.send_replace(InstanceState::Starting);
                process::signal_group(pid, libc::SIGKILL);
            }
        }
    }

    /// How process `pid` ended, waiting up to `wait` for its supervisor to see it end (its
    /// connection closes a moment before). `None` when it has not ended by then.
    pub async fn exit_of(&self, pid: i32, wait: Duration) -> Option<Arc<ProcessExit>> {
        let deadline = Instant::now() + wait;
        loop {
            let added = self.exits.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if let Some(exit) = self.exits.find(pid) {
                return Some(exit);
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                return None;
            }
        }
    }

    /// Stops every instance gracefully and waits for them.
    pub async fn stop(&self) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Requests in flight to the ready instances (runs among them): what a switch to another
    /// version waits for before it stops this one.
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|slot| {
                lock(&slot.ready)
                    .as_ref()
                    .map(|ready| ready.rpc.in_flight())
            })
            .sum()
    }

    /// How many times a process of this plugin was started again after one ended (a crash, or
    /// a hung run's process replaced).
    pub fn restarts(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True once [`Supervisor::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Why the plugin cannot run anything, when every instance has failed.
    pub fn failure(&self) -> Option<String> {
        let states = self.states();
        let reasons: Vec<String> = states
            .iter()
            .filter_map(|state| match state {
                InstanceState::Failed(reason) => Some(reason.clone()),
                _ => None,
            })
            .collect();
        (!reasons.is_empty() && reasons.len() == states.len()).then(|| reasons.join("; "))
    }
}

struct Instance {
    label: String,
    manifest: Arc<Manifest>,
    paths: PluginPaths,
    services: Arc<dyn HostServices>,
    config: SupervisorConfig,
    slot: Arc<Slot>,
    stop: CancellationToken,
    ids: Arc<std::sync::atomic::AtomicI64>,
    restarts: Arc<std::sync::atomic::AtomicU64>,
    exits: Arc<Exits>,
}

enum Ended {
    Stopped,
    Crashed(String),
    Refused(String),
}

impl Instance {
    fn set(&self, state: InstanceState) {
        if let InstanceState::Failed(reason) = &state {
            tracing::error!(plugin = %self.label, %reason, "plugin failed");
        }
        self.slot.state.send_replace(state);
    }

    async fn run(self) {
        let mut crashes: VecDeque<Instant> = VecDeque::new();
        // Starts in a row that never reached ready: slow failures (a handshake that times out
        // takes many seconds) never fill the crash-loop window, but must still end in `failed`.
        let mut failed_starts = 0usize;
        let mut backoff = self.config.restart_backoff;
        loop {
            if self.stop.is_cancelled() {
                self.set(InstanceState::Stopped);
                return;
            }
            self.set(InstanceState::Starting);
            let started = Instant::now();
            self.slot
                .reached_ready
                .store(false, std::sync::atomic::Ordering::SeqCst);
            let ended = self.life().await;
            let was_ready = self
                .slot
                .reached_ready
                .load(std::sync::atomic::Ordering::SeqCst);
            match ended {
                Ended::Stopped => {
                    self.set(InstanceState::Stopped);
                    return;
                }
                Ended::Refused(reason) => {
                    self.set(InstanceState::Failed(reason));
                    return;
                }
                Ended::Crashed(_)
                    if self
                        .slot
                        .replaced
                        .swap(false, std::sync::atomic::Ordering::SeqCst) =>
                {
                    tracing::info!(plugin = %self.label, "plugin process replaced after a run it did not finish");
                    self.restarts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    backoff = self.config.restart_backoff;
                    self.set(InstanceState::Stopped);
                }
                Ended::Crashed(reason) => {
                    tracing::warn!(plugin = %self.label, %reason, "plugin process ended; restarting");
                    let now = Instant::now();
                    crashes.push_back(now);
                    while crashes
                        .front()
                        .is_some_and(|at| now.duration_since(*at) > self.config.crash_loop_window)
                    {
                        crashes.pop_front();
                    }
                    failed_starts = if was_ready { 0 } else { failed_starts + 1 };
                    if failed_starts >= self.config.crash_loop_limit {
                        self.set(InstanceState::Failed(format!(
                            "failed to start {} in a row; last: {reason}",
                            crate::words::count(failed_starts as u64, "time")
                        )));
                        return;
                    }
                    if crashes.len() >= self.config.crash_loop_limit {
                        self.set(InstanceState::Failed(format!(
                            "crashed {} within {} s; last: {reason}",
                            crate::words::count(crashes.len() as u64, "time"),
                            self.config.crash_loop_window.as_secs()
                        )));
                        return;
                    }
                    // A process that ran a good while before it died starts again quickly.
                    if started.elapsed() > self.config.crash_loop_window {
                        backoff = self.config.restart_backoff;
                    }
                    self.set(InstanceState::Stopped);
                    self.restarts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.stop.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(self.config.max_restart_backoff);
                }
            }
        }
    }

    /// One process, from spawn to exit.
    async fn life(&self) -> Ended {
        let mut started =
            match process::spawn(&self.manifest, &self.paths, &self.config.confinement) {
                Ok(started) => started,
                Err(error) => return Ended::Crashed(error.to_string()),
            };
        let cgroup = started.cgroup.take();
        let ended = self.run_process(started).await;
        // Whatever the process started, daemons that left its group included, ends with it.
        if let Some(cgroup) = cgroup {
            cgroup.kill_and_remove().await;
        }
        ended
    }

    /// One started process, from its handshake to its exit.
    async fn run_process(&self, mut started: process::PluginProcess) -> Ended {
        let pid = started.pid;
        let label = self.label.clone();
        let last_lines: Arc<Mutex<VecDeque<String>>> = Arc::new(Mutex::new(VecDeque::new()));
        let tail = last_lines.clone();
        let log_label = label.clone();
        let stderr_task = tokio::spawn(process::forward_stderr(
            label.clone(),
            started.stderr,
            move |line| {
                tracing::info!(plugin = %log_label, "{line}");
                let mut tail = lock(&tail);
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            },
        ));
        let rpc = RpcClient::start_with(
            started.stdout,
            started.stdin,
            ConnectionParams {
                label: label.clone(),
                services: self.services.clone(),
                ids: self.ids.clone(),
                limits: self.config.connection,
            },
        );
        // Says how the process ended, and records it for the jobs it was running.
        let describe_exit = |what: &str, status: std::io::Result<std::process::ExitStatus>| {
            let exit = ProcessExit {
                pid,
                status: match status {
                    Ok(status) => status.to_string(),
                    Err(error) => format!("unknown status ({error})"),
                },
                stderr_tail: lock(&last_lines).iter().cloned().collect(),
            };
            let described = exit.describe(what);
            self.exits.add(exit);
            described
        };
        // A process that served requests: its stderr may concern any tenant it served, so the
        // reason (which jobs of every tenant may show) names the status only; the lines go to
        // the host's log.
        let exited_serving = |status: std::io::Result<std::process::ExitStatus>| {
            let described = describe_exit("the process exited", status);
            tracing::warn!(plugin = %label, pid, "{described}");
            match self.exits.find(pid) {
                Some(exit) if !exit.stderr_tail.is_empty() => format!(
                    "the process exited ({}); its last stderr lines are in the host's log",
                    exit.status
                ),
                Some(exit) => format!(
                    "the process exited ({}) and wrote nothing on stderr",
                    exit.status
                ),
                None => described,
            }
        };
        // Why a process that never answered its handshake did not: what it wrote, and its
        // last words on stderr.
        let diagnose = |rpc: &RpcClient| {
            let tail: Vec<String> = lock(&last_lines).iter().cloned().collect();
            let mut why = rpc
                .stdout_seen()
                .diagnosis()
                .map(|diagnosis| format!("; {diagnosis}"))
                .unwrap_or_default();
            if !tail.is_empty() {
                why.push_str(&format!("; its last stderr lines: {}", tail.join(" | ")));
            }
            why
        };

        let handshake = InitializeParams {
            protocol_version: PROTOCOL_VERSION,
            host: HostInfo {
                name: "plugboard".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            data_dir: self.paths.data_dir.display().to_string(),
        };
        let answer = tokio::select! {
            answer = rpc.call(plugboard_protocol::methods::INITIALIZE, &handshake, self.config.handshake_timeout) => answer,
            status = started.child.wait() => {
                // Whatever it left behind in its group may hold stderr open: stop it, then read
                // what is left for a short while only.
                process::signal_group(pid, libc::SIGKILL);
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
                return Ended::Crashed(describe_exit("exited before it answered initialize", status));
            }
            () = self.stop.cancelled() => {
                self.halt(&rpc, &mut started.child, pid).await;
                return Ended::Stopped;
            }
        };
        let refused = |reason: String| Ended::Refused(reason);
        let result = match answer {
            Ok(value) => match serde_json::from_value::<InitializeResult>(value) {
                Ok(result) => match self.check_identity(&result) {
                    Ok(()) => result,
                    Err(reason) => {
                        self.halt(&rpc, &mut started.child, pid).await;
                        return refused(reason);
                    }
                },
                Err(error) => {
                    self.halt(&rpc, &mut started.child, pid).await;
                    return refused(format!("its answer to initialize is malformed: {error}; protocol.md's `initialize` shows the answer the host expects"));
                }
            },
            Err(RpcError::Remote(error))
                if error.code == plugboard_protocol::error::UNSUPPORTED_PROTOCOL_VERSION =>
            {
                self.halt(&rpc, &mut started.child, pid).await;
                return refused(format!(
                    "it does not speak protocol {PROTOCOL_VERSION}: {}",
                    error.message
                ));
            }
            Err(RpcError::Timeout { .. }) => {
                let why = diagnose(&rpc);
                self.halt(&rpc, &mut started.child, pid).await;
                return Ended::Crashed(format!(
                    "it did not answer initialize within {} ms{why}",
                    self.config.handshake_timeout.as_millis()
                ));
            }
            Err(RpcError::Closed(_)) => {
                // It closed stdout: it is exiting. Say how, with its last words.
                let status = match tokio::time::timeout(
                    self.config.stop_grace,
                    started.child.wait(),
                )
                .await
                {
                    Ok(status) => status,
                    Err(_) => {
                        let why = diagnose(&rpc);
                        self.halt(&rpc, &mut started.child, pid).await;
                        return Ended::Crashed(format!(
                            "it closed its stdout before it answered initialize{why}"
                        ));
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
                return Ended::Crashed(describe_exit(
                    "exited before it answered initialize",
                    status,
                ));
            }
            Err(error) => {
                self.halt(&rpc, &mut started.child, pid).await;
                return Ended::Crashed(format!("initialize failed: {error}"));
            }
        };
        let metadata = Arc::new(result.metadata);
        *lock(&self.slot.declared) = Some(metadata.clone());
        *lock(&self.slot.ready) = Some(ReadyInstance {
            rpc: rpc.clone(),
            metadata,
            pid,
        });
        self.slot
            .reached_ready
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.set(InstanceState::Ready);
        match started.identity {
            Some((uid, gid)) => tracing::info!(plugin = %label, pid, uid, gid, "plugin ready"),
            None => tracing::info!(plugin = %label, pid, "plugin ready"),
        }

        // An idle process is pinged now and then; one that does not answer is hung.
        let mut watchdog = tokio::spawn({
            let (rpc, every, timeout) = (
                rpc.clone(),
                self.config.ping_interval,
                self.config.ping_timeout,
            );
            async move {
                loop {
                    tokio::time::sleep(every).await;
                    if rpc.in_flight() > 0 {
                        continue;
                    }
                    let method = plugboard_protocol::methods::PING;
                    match rpc.call(method, json!({}), timeout).await {
                        Err(RpcError::Timeout { .. }) => return,
                        Err(RpcError::Closed(_) | RpcError::Exited(_)) => {
                            return std::future::pending().await
                        }
                        Ok(_) | Err(RpcError::Remote(_)) => {}
                    }
                }
            }
        });
        let ended = tokio::select! {
            _ = &mut watchdog => {
                *lock(&self.slot.ready) = None;
                let reason = format!(
                    "it did not answer ping within {} ms while idle (hung between requests?); the host replaced it",
                    self.config.ping_timeout.as_millis()
                );
                tracing::warn!(plugin = %label, pid, %reason, "plugin is not answering");
                self.halt(&rpc, &mut started.child, pid).await;
                Ended::Crashed(reason)
            }
            status = started.child.wait() => {
                *lock(&self.slot.ready) = None;
                process::signal_group(pid, libc::SIGKILL);
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
                Ended::Crashed(exited_serving(status))
            }
            reason = rpc.closed() => {
                *lock(&self.slot.ready) = None;
                if rpc.stalled() {
                    // It does not read: `shutdown` would never reach it.
                    tracing::warn!(plugin = %label, pid, %reason, "plugin stopped reading what the host sends; killing it");
                    process::signal_group(pid, libc::SIGKILL);
                    let _ = started.child.wait().await;
                    let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
                    Ended::Crashed(reason)
                } else {
                    // Usually the process is exiting and its pipe closed first; otherwise it closed
                    // its stdout and kept running, and can no longer answer: replace it.
                    match tokio::time::timeout(Duration::from_millis(500), started.child.wait()).await {
                        Ok(status) => {
                            process::signal_group(pid, libc::SIGKILL);
                            let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
                            Ended::Crashed(exited_serving(status))
                        }
                        Err(_) => {
                            self.halt(&rpc, &mut started.child, pid).await;
                            Ended::Crashed(format!("its connection closed while it kept running ({reason})"))
                        }
                    }
                }
            }
            () = self.stop.cancelled() => {
                *lock(&self.slot.ready) = None;
                self.set(InstanceState::Stopping);
                self.halt(&rpc, &mut started.child, pid).await;
                Ended::Stopped
            }
        };
        watchdog.abort();
        // Whatever else the plugin started in its group goes with it.
        process::signal_group(pid, libc::SIGKILL);
        ended
    }

    fn check_identity(&self, result: &InitializeResult) -> Result<(), String> {
        if result.protocol_version != PROTOCOL_VERSION {
            return Err(format!(
                "it speaks protocol {}, and this plugboard speaks protocol {PROTOCOL_VERSION}; use a version of the plugin built for protocol {PROTOCOL_VERSION}",
                result.protocol_version
            ));
        }
        if result.plugin.id != self.manifest.id || result.plugin.version != self.manifest.version {
            return Err(format!(
                "it says it is {} {}, but its manifest says {} {}",
                result.plugin.id, result.plugin.version, self.manifest.id, self.manifest.version
            ));
        }
        result.metadata.check_routes().map_err(|reason| {
            format!("its metadata declares a route or console page the host cannot serve: {reason}")
        })?;
        if let Some(schema) = &result.metadata.config_schema {
            let problems = config_schema_problems(schema);
            if !problems.is_empty() {
                return Err(format!(
                    "its metadata's configSchema is not valid JSON Schema ({}): {}; fix the schema the plugin reports",
                    crate::words::count(problems.len() as u64, "problem"),
                    problems.join("; ")
                ));
            }
        }
        Ok(())
    }

    /// Graceful stop: `shutdown`, close stdin, SIGTERM to the group, SIGKILL after the grace.
    async fn halt(&self, rpc: &RpcClient, child: &mut tokio::process::Child, pid: i32) {
        let grace = self.config.stop_grace;
        let _ = rpc
            .call(plugboard_protocol::methods::SHUTDOWN, json!({}), grace)
            .await;
        rpc.close_stdin();
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            process::signal_group(pid, libc::SIGKILL);
            return;
        }
        tracing::warn!(plugin = %self.label, pid, "plugin did not exit after shutdown; sending SIGTERM");
        process::signal_group(pid, libc::SIGTERM);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            process::signal_group(pid, libc::SIGKILL);
            return;
        }
        tracing::warn!(plugin = %self.label, pid, "plugin ignored SIGTERM; sending SIGKILL");
        process::signal_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

/// Every way `schema` is not a JSON Schema the host can check configs with, each as
/// `<JSON pointer into the schema>: <what is wrong>`; empty when it is one. Checked against its
/// draft's meta-schema (2020-12 without `$schema`), then compiled as configs are checked.
pub fn config_schema_problems(schema: &serde_json::Value) -> Vec<String> {
    let meta = match jsonschema::meta::validator_for(schema) {
        Ok(meta) => meta,
        Err(_) => {
            return vec![format!(
                "/$schema: {} is not a JSON Schema draft plugboard knows (2020-12, 2019-09, 7, 6, 4), and it fetches no other meta-schema",
                schema.get("$schema").map_or_else(|| "it".to_owned(), |uri| uri.to_string())
            )]
        }
    };
    let mut problems: Vec<String> = meta
        .iter_errors(schema)
        .map(|error| {
            let path = error.instance_path().as_str();
            format!("{}: {error}", if path.is_empty() { "/" } else { path })
        })
        .collect();
    if problems.is_empty() {
        if let Err(error) = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
        {
            let path = error.instance_path().as_str();
            problems.push(format!(
                "{}: {error}",
                if path.is_empty() { "/" } else { path }
            ));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}
