//! `plugboard plugin check DIR`: a conformance run of one plugin package, in any language, as
//! the host will run it (packed and unpacked as an install does, confined, with a cleared
//! environment), step by step: its manifest, its
//! handshake and identity, its metadata, `ping`, `config/validate` of a sample config, a `run`,
//! a `run` cancelled at once, stdout that carries messages only, a clean `shutdown` and exit,
//! and no process left behind. Each step says what passed or what to fix.
//!
//! Owns: driving one process directly (not through the supervisor, whose retries and restarts
//! would hide what a check must see). Must not touch: the store (host calls are answered from
//! memory: `kv/*` in a map, `emit` and `log` recorded).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use plugboard_protocol::error::{INVALID_PARAMS, METHOD_NOT_FOUND};
use plugboard_protocol::methods::{
    self, ConfigInfo, ConfigParams, ConfigValidateResult, HostInfo, InitializeParams,
    InitializeResult, JobInfo, RunParams, Trigger, TriggerKind,
};
use plugboard_protocol::{ErrorObject, Manifest, PROTOCOL_VERSION};
use serde_json::{json, Value};

use super::confinement::Confinement;
use super::process::{self, PluginPaths};
use super::rpc::{ConnectionLimits, ConnectionParams, HostServices, RpcClient, RpcError};

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Not run, because an earlier step failed or it does not apply.
    Skipped,
}

/// One step of the check: what it looked at and what it found (or what to fix).
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// What the check is given beyond the package.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The config values to validate and run with; default: the schema's `default`s.
    pub config: Option<Value>,
    /// The run's payload.
    pub payload: Value,
    /// How long each answer may take (the handshake's included).
    pub timeout: Duration,
    /// How long a cancelled run and a shutdown may take to end.
    pub grace: Duration,
    /// Only the handshake, identity, metadata and `ping`, then `shutdown`: what `plugin pack`
    /// checks (no config, run or cancel, which may reach out to other systems).
    pub handshake_only: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            config: None,
            payload: json!({}),
            timeout: Duration::from_secs(10),
            grace: Duration::from_secs(5),
            handshake_only: false,
        }
    }
}

/// Host calls answered from memory.
#[derive(Default)]
struct MemoryHost {
    kv: Mutex<HashMap<(Option<String>, String), Value>>,
    logs: Mutex<Vec<String>>,
    emitted: Mutex<Vec<Value>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl HostServices for MemoryHost {
    async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ErrorObject> {
        let params = params.unwrap_or(Value::Null);
        let tenant = params
            .get("tenant")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = || {
            params
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ErrorObject::new(INVALID_PARAMS, "`key` is required"))
        };
        match method {
            methods::KV_GET => {
                let value = lock(&self.kv).get(&(tenant, key()?)).cloned();
                Ok(json!({"value": value}))
            }
            methods::KV_SET => {
                let value = params.get("value").cloned().unwrap_or(Value::Null);
                lock(&self.kv).insert((tenant, key()?), value);
                Ok(json!({}))
            }
            methods::KV_DELETE => {
                let deleted = lock(&self.kv).remove(&(tenant, key()?)).is_some();
                Ok(json!({"deleted": deleted}))
            }
            methods::KV_LIST => {
                let prefix = params.get("prefix").and_then(Value::as_str).unwrap_or("");
                let mut items: Vec<Value> = lock(&self.kv)
                    .iter()
                    .filter(|((space, key), _)| *space == tenant && key.starts_with(prefix))
                    .map(|((_, key), value)| json!({"key": key, "value": value}))
                    .collect();
                items.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
                Ok(json!({"items": items, "nextCursor": null}))
            }
            methods::EMIT => {
                let count = {
                    let mut emitted = lock(&self.emitted);
                    emitted.push(params);
                    emitted.len()
                };
                Ok(json!({"eventId": count.to_string()}))
            }
            other => Err(ErrorObject::new(
                METHOD_NOT_FOUND,
                format!("the host has no method `{other}`"),
            )),
        }
    }

    fn notification(&self, method: &str, params: Option<Value>) {
        if method == methods::LOG {
            if let Some(message) = params
                .as_ref()
                .and_then(|params| params.get("message"))
                .and_then(Value::as_str)
            {
                lock(&self.logs).push(message.to_owned());
            }
        }
    }
}

/// The steps, in the order they run; a report has one entry for each.
pub const STEPS: &[&str] = &[
    "manifest",
    "handshake",
    "identity",
    "metadata",
    "ping",
    "config",
    "run",
    "cancel",
    "stdout",
    "shutdown",
    "leftovers",
];

struct Report(Vec<Step>);

impl Report {
    fn add(&mut self, name: &'static str, verdict: Verdict, detail: impl Into<String>) {
        self.0.push(Step {
            name,
            verdict,
            detail: detail.into(),
        });
    }

    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.add(name, Verdict::Passed, detail);
    }

    fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.add(name, Verdict::Failed, detail);
    }

    /// Marks every step not reported yet as skipped, because of `why`.
    fn skip_rest(mut self, why: &str) -> Vec<Step> {
        for name in STEPS {
            if !self.0.iter().any(|step| step.name == *name) {
                self.add(name, Verdict::Skipped, why);
            }
        }
        self.0
    }
}

fn millis(since: Instant) -> u128 {
    since.elapsed().as_millis()
}

/// The config values a check uses when none are given: each property's `default`.
pub fn sample_config(schema: &Value) -> Value {
    let mut values = serde_json::Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if let Some(default) = property.get("default") {
                values.insert(name.clone(), default.clone());
            }
        }
    }
    Value::Object(values)
}

/// Checks the package in `package_dir`, starting it under `confinement` with a data directory
/// in `scratch`; answers every step of [`STEPS`].
pub async fn check(
    package_dir: &Path,
    scratch: &Path,
    confinement: &Confinement,
    options: &CheckOptions,
) -> Vec<Step> {
    let mut report = Report(Vec::new());
    // Packed and unpacked as an install would: what runs is what a package of it holds.
    let (manifest, root, unpacked) = match as_installed(package_dir, scratch) {
        Ok(installed) => installed,
        Err(error) => {
            report.fail("manifest", error);
            return report.skip_rest("the package must be valid first");
        }
    };
    report.pass(
        "manifest",
        format!(
            "{} {}, protocol {}, command {}; the package holds {} ({} bytes)",
            manifest.id,
            manifest.version,
            manifest.protocol,
            manifest.command.join(" "),
            match unpacked.files {
                1 => "1 entry".to_owned(),
                files => format!("{files} entries"),
            },
            unpacked.bytes
        ),
    );
    let paths = PluginPaths {
        package_dir: root,
        data_dir: scratch.join("data"),
    };
    let mut started = match process::spawn(&manifest, &paths, confinement) {
        Ok(started) => started,
        Err(error) => {
            report.fail("handshake", error.to_string());
            return report.skip_rest("the plugin must start first");
        }
    };
    let cgroup = started.cgroup.take();
    let stderr_lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let stderr_task = tokio::spawn(process::forward_stderr(
        manifest.id.clone(),
        started.stderr,
        {
            let lines = stderr_lines.clone();
            move |line| lock(&lines).push(line)
        },
    ));
    let host = Arc::new(MemoryHost::default());
    let rpc = RpcClient::start_with(
        started.stdout,
        started.stdin,
        ConnectionParams {
            label: manifest.id.clone(),
            services: host.clone(),
            ids: Arc::new(std::sync::atomic::AtomicI64::new(1)),
            limits: ConnectionLimits::default(),
        },
    );
    let pid = started.pid;
    let steps = converse(&mut report, &manifest, &rpc, &host, &paths, options).await;
    // The process ends here whatever happened: politely when the steps got that far.
    let exit = match steps {
        Conversation::ReachedShutdown => tokio::time::timeout(options.grace, started.child.wait())
            .await
            .ok(),
        Conversation::Stopped => None,
    };
    match (&steps, exit) {
        (Conversation::ReachedShutdown, Some(Ok(status))) if status.success() => {
            report.pass("shutdown", "answered `shutdown` and exited with status 0");
        }
        (Conversation::ReachedShutdown, Some(Ok(status))) => report.fail(
            "shutdown",
            format!("answered `shutdown` but exited with {status}; exit with status 0 after answering"),
        ),
        (Conversation::ReachedShutdown, Some(Err(error))) => {
            report.fail("shutdown", format!("its exit could not be read: {error}"))
        }
        (Conversation::ReachedShutdown, None) => report.fail(
            "shutdown",
            format!(
                "still running {} ms after answering `shutdown` (or it did not answer); exit after answering, and when stdin reaches its end",
                options.grace.as_millis()
            ),
        ),
        (Conversation::Stopped, _) => {}
    }
    // Whatever is left in its process group but itself, once it exited by itself, is a leftover
    // (itself still running is the shutdown step's business); a conversation cut short by a
    // failed step kills the process, so nothing can be judged then.
    let exited = matches!(steps, Conversation::ReachedShutdown)
        && report
            .0
            .iter()
            .any(|step| step.name == "shutdown" && step.verdict == Verdict::Passed);
    let left: Vec<i32> = if exited {
        group_members(pid)
            .into_iter()
            .filter(|member| *member != pid)
            .collect()
    } else {
        Vec::new()
    };
    process::signal_group(pid, libc::SIGKILL);
    let _ = started.child.wait().await;
    if let Some(cgroup) = cgroup {
        cgroup.kill_and_remove().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
    if !exited {
        report.add(
            "leftovers",
            Verdict::Skipped,
            "the plugin did not exit by itself",
        );
    } else if !report.0.iter().any(|step| step.name == "leftovers") {
        if left.is_empty() {
            report.pass("leftovers", "no process of the plugin was left running");
        } else {
            report.fail(
                "leftovers",
                format!(
                    "{} still running after it exited (pids {}); stop what you start before exiting",
                    if left.len() == 1 {
                        "1 process".to_owned()
                    } else {
                        format!("{} processes", left.len())
                    },
                    left.iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let tail: Vec<String> = lock(&stderr_lines)
        .iter()
        .rev()
        .take(5)
        .rev()
        .cloned()
        .collect();
    let mut steps = report.skip_rest("an earlier step failed");
    steps.sort_by_key(|step| STEPS.iter().position(|name| *name == step.name));
    if steps.iter().any(|step| step.verdict == Verdict::Failed) && !tail.is_empty() {
        if let Some(step) = steps
            .iter_mut()
            .find(|step| step.verdict == Verdict::Failed)
        {
            step.detail
                .push_str(&format!("; its last stderr lines: {}", tail.join(" | ")));
        }
    }
    steps
}

enum Conversation {
    /// `shutdown` was sent; the process should be exiting.
    ReachedShutdown,
    /// A step failed in a way that ends the conversation; the process is killed.
    Stopped,
}

/// The steps from the handshake to `shutdown`.
async fn converse(
    report: &mut Report,
    manifest: &Manifest,
    rpc: &RpcClient,
    host: &MemoryHost,
    paths: &PluginPaths,
    options: &CheckOptions,
) -> Conversation {
    let started = Instant::now();
    let handshake = InitializeParams {
        protocol_version: PROTOCOL_VERSION,
        host: HostInfo {
            name: "plugboard".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        data_dir: paths.data_dir.display().to_string(),
    };
    let answer = match rpc
        .call(methods::INITIALIZE, &handshake, options.timeout)
        .await
    {
        Ok(answer) => answer,
        Err(error) => {
            let seen = rpc
                .stdout_seen()
                .diagnosis()
                .map(|diagnosis| format!("; {diagnosis}"))
                .unwrap_or_default();
            report.fail("handshake", format!("{error}{seen}"));
            return Conversation::Stopped;
        }
    };
    let result: InitializeResult = match serde_json::from_value(answer) {
        Ok(result) => result,
        Err(error) => {
            report.fail(
                "handshake",
                format!("its answer to `initialize` is not an InitializeResult: {error}; protocol.md's `initialize` shows one"),
            );
            return Conversation::Stopped;
        }
    };
    report.pass(
        "handshake",
        format!("answered `initialize` in {} ms", millis(started)),
    );
    if result.protocol_version != PROTOCOL_VERSION {
        report.fail(
            "identity",
            format!(
                "it speaks protocol {}; plugboard speaks {PROTOCOL_VERSION}",
                result.protocol_version
            ),
        );
        return Conversation::Stopped;
    }
    if result.plugin.id != manifest.id || result.plugin.version != manifest.version {
        report.fail(
            "identity",
            format!(
                "it says it is {} {}, and its manifest says {} {}; make them agree",
                result.plugin.id, result.plugin.version, manifest.id, manifest.version
            ),
        );
        return Conversation::Stopped;
    }
    report.pass(
        "identity",
        format!(
            "{} {} as its manifest says",
            result.plugin.id, result.plugin.version
        ),
    );
    let metadata = &result.metadata;
    let mut problems = Vec::new();
    if let Err(reason) = metadata.check_routes() {
        problems.push(reason);
    }
    if let Some(schema) = &metadata.config_schema {
        let schema_problems = super::supervisor::config_schema_problems(schema);
        if !schema_problems.is_empty() {
            problems.push(format!(
                "its configSchema is not valid JSON Schema: {}",
                schema_problems.join("; ")
            ));
        }
    }
    if problems.is_empty() {
        report.pass(
            "metadata",
            format!(
                "{}, {}, {}, {}{}",
                crate::words::count(metadata.routes.len() as u64, "route"),
                crate::words::count(metadata.ui.len() as u64, "console page"),
                crate::words::count(metadata.tools.len() as u64, "tool"),
                crate::words::count(metadata.events.len() as u64, "event type"),
                if metadata.config_schema.is_some() {
                    ", a config schema"
                } else {
                    ""
                }
            ),
        );
    } else {
        report.fail("metadata", problems.join("; "));
        return Conversation::Stopped;
    }

    let started = Instant::now();
    match rpc.call(methods::PING, json!({}), options.timeout).await {
        Ok(_) => report.pass("ping", format!("answered in {} ms", millis(started))),
        Err(error) => {
            report.fail(
                "ping",
                format!("{error}; answer `ping` with {{}}, even while busy"),
            );
            return Conversation::Stopped;
        }
    }

    if options.handshake_only {
        for name in ["config", "run", "cancel"] {
            report.add(name, Verdict::Skipped, "not part of this check");
        }
        return finish(report, rpc, options).await;
    }

    // A sample config, checked by the schema and the plugin's own config/validate.
    let config = match &metadata.config_schema {
        None => {
            report.add("config", Verdict::Skipped, "it declares no config schema");
            None
        }
        Some(schema) => {
            let values = options
                .config
                .clone()
                .unwrap_or_else(|| sample_config(schema));
            let rejected: Vec<String> = match jsonschema::options()
                .should_validate_formats(true)
                .build(schema)
            {
                Ok(validator) => validator
                    .iter_errors(&values)
                    .map(|error| {
                        let path = error.instance_path().as_str();
                        format!("{}: {error}", if path.is_empty() { "/" } else { path })
                    })
                    .collect(),
                Err(error) => vec![error.to_string()],
            };
            if !rejected.is_empty() {
                report.fail(
                    "config",
                    format!(
                        "the sample config {values} does not pass the schema ({}); give one with --config JSON, or `default`s in the schema",
                        rejected.join("; ")
                    ),
                );
                None
            } else {
                let params = ConfigParams {
                    tenant: Some("check".to_owned()),
                    values: values.clone(),
                };
                match rpc
                    .call(methods::CONFIG_VALIDATE, &params, options.timeout)
                    .await
                {
                    Ok(answer) => match serde_json::from_value::<ConfigValidateResult>(answer) {
                        // As the host reads it: problems reject, whatever `valid` says.
                        Ok(result) if result.valid && result.errors.is_empty() => {
                            report.pass(
                                "config",
                                format!("`config/validate` accepts the sample config {values}"),
                            );
                            Some(values)
                        }
                        Ok(result) => {
                            report.fail(
                                "config",
                                format!(
                                    "`config/validate` rejects the sample config {values}: {}; give one it accepts with --config JSON",
                                    serde_json::to_string(&result.errors).unwrap_or_default()
                                ),
                            );
                            None
                        }
                        Err(error) => {
                            report.fail(
                                "config",
                                format!("its answer to `config/validate` is not a ConfigValidateResult: {error}"),
                            );
                            None
                        }
                    },
                    Err(RpcError::Remote(error)) if error.code == METHOD_NOT_FOUND => {
                        report.pass(
                            "config",
                            format!("it has no `config/validate` (-32601): the schema alone checks configs; the sample {values} passes it"),
                        );
                        Some(values)
                    }
                    Err(error) => {
                        report.fail("config", format!("`config/validate`: {error}"));
                        None
                    }
                }
            }
        }
    };

    let run_params = |id: i64| RunParams {
        job: JobInfo {
            id,
            attempt: 1,
            max_attempts: 1,
            deadline: None,
        },
        trigger: Trigger {
            kind: TriggerKind::Manual,
            event: None,
            fire_time: None,
        },
        tenant: Some("check".to_owned()),
        config: config.clone().map(|values| ConfigInfo {
            id: "cfg_check".to_owned(),
            name: "check".to_owned(),
            values,
        }),
        payload: options.payload.clone(),
    };
    let started = Instant::now();
    match rpc
        .call(methods::RUN, run_params(1), options.timeout)
        .await
    {
        Ok(answer) => {
            let shown = answer.to_string();
            let shown = if shown.chars().count() > 200 {
                format!("{}…", shown.chars().take(200).collect::<String>())
            } else {
                shown
            };
            report.pass(
                "run",
                format!(
                    "answered in {} ms with {shown}{}",
                    millis(started),
                    match lock(&host.logs).len() {
                        0 => String::new(),
                        lines => format!(", after {}", crate::words::count(lines as u64, "log line")),
                    }
                ),
            );
        }
        Err(RpcError::Remote(error)) => report.pass(
            "run",
            format!(
                "answered in {} ms with an error{}: {} (the payload was {}; give another with --payload JSON)",
                millis(started),
                if error.is_retryable() { " (retryable)" } else { "" },
                error.message,
                options.payload
            ),
        ),
        Err(error) => {
            report.fail("run", error.to_string());
            return Conversation::Stopped;
        }
    }

    // A run cancelled at once must end (with an answer) within the grace period.
    let started = Instant::now();
    let (id, answer) = match rpc.send_request(methods::RUN, run_params(2)) {
        Ok(sent) => sent,
        Err(error) => {
            report.fail("cancel", error.to_string());
            return Conversation::Stopped;
        }
    };
    rpc.notify(
        methods::CANCEL,
        json!({"requestId": id, "reason": "plugboard plugin check cancels this run"}),
    );
    match tokio::time::timeout(options.grace, answer).await {
        Ok(Ok(Ok(_))) => report.pass(
            "cancel",
            format!("a run cancelled at once answered in {} ms (it finished before the cancel mattered)", millis(started)),
        ),
        Ok(Ok(Err(RpcError::Remote(error)))) => report.pass(
            "cancel",
            format!(
                "a run cancelled at once ended in {} ms: {}",
                millis(started),
                error.message
            ),
        ),
        Ok(Ok(Err(error))) => {
            report.fail("cancel", error.to_string());
            return Conversation::Stopped;
        }
        Ok(Err(_)) => {
            report.fail("cancel", "the connection closed during a cancelled run");
            return Conversation::Stopped;
        }
        Err(_) => {
            rpc.abandon(id);
            report.fail(
                "cancel",
                format!(
                    "a run cancelled at once did not answer within {} ms; on `cancel`, stop the request and answer it (an error `cancelled: …`)",
                    options.grace.as_millis()
                ),
            );
        }
    }

    finish(report, rpc, options).await
}

/// The `stdout` step and `shutdown`.
async fn finish(report: &mut Report, rpc: &RpcClient, options: &CheckOptions) -> Conversation {
    let seen = rpc.stdout_seen();
    if seen.strays == 0 && rpc.faults() == 0 {
        report.pass(
            "stdout",
            format!(
                "{} read, every one a message",
                crate::words::count(seen.lines, "line")
            ),
        );
    } else {
        report.fail(
            "stdout",
            seen.diagnosis().unwrap_or_else(|| {
                format!(
                    "{} on its stdout (answers to nothing asked, or lines over 16 MiB)",
                    crate::words::count(rpc.faults(), "protocol fault")
                )
            }),
        );
    }

    match rpc.call(methods::SHUTDOWN, json!({}), options.grace).await {
        Ok(_) => {
            rpc.close_stdin();
            Conversation::ReachedShutdown
        }
        Err(error) => {
            report.fail(
                "shutdown",
                format!("`shutdown`: {error}; answer it with {{}} and exit"),
            );
            Conversation::Stopped
        }
    }
}

/// The processes in process group `pid` (the plugin's; it leads its own group).
fn group_members(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|candidate| {
            std::fs::read_to_string(format!("/proc/{candidate}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(") ")?.1.to_owned();
                    let fields: Vec<&str> = rest.split_whitespace().collect();
                    // state ppid pgrp …; a zombie has exited.
                    Some(fields.first()? != &"Z" && fields.get(2)?.parse::<i32>().ok()? == pid)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// `given` (a package folder or archive) packed and unpacked into `scratch` the way an install
/// does, with every check an install makes: its manifest, the unpacked package's root, and
/// what it holds. `Err` says what an install would refuse.
fn as_installed(
    given: &Path,
    scratch: &Path,
) -> Result<(Manifest, PathBuf, super::package::Unpacked), String> {
    let archive = if given.is_dir() {
        let archive = scratch.join("package.tar.gz");
        super::package::pack_folder(given, &archive).map_err(|error| error.to_string())?;
        archive
    } else if given.is_file() {
        given.to_path_buf()
    } else {
        return Err(format!(
            "{} is neither a package folder nor an archive",
            given.display()
        ));
    };
    let destination = scratch.join("package");
    let unpacked = super::package::unpack(
        &archive,
        &destination,
        &super::package::PackageLimits::default(),
    )
    .map_err(|error| error.to_string())?;
    let checked = super::package::check(&destination).map_err(|error| error.to_string())?;
    Ok((checked.manifest, checked.root, unpacked))
}

/// A package folder as given on the command line, made absolute.
pub fn package_folder(given: &Path) -> std::io::Result<PathBuf> {
    std::path::absolute(given)
}
