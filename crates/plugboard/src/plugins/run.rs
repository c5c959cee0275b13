//! The `plugin.run` job kind: hands a job to its plugin's warm process as a `run` request and
//! records its answer, and the request-for-a-job plumbing other plugin kinds share.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::methods::{
    self, ConfigInfo, JobInfo, RunParams, RunResult, Trigger, TriggerKind,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::rpc::RpcError;
use super::supervisor::Supervisor;
use crate::queue::{JobContext, JobError, JobHandler, StopReason};
use crate::store::{JobId, LogLevel, NewLogLine, PluginState};

use super::host::{lock, PluginHost};
use super::services::{may_see_output, PluginServices};

/// The job kind that runs a plugin.
pub const PLUGIN_RUN: &str = "plugin.run";

/// Why a plugin.run job cannot run on this node, as the registry sees it: a plugin that is not
/// installed, disabled or failed fails at once with what to do; one that is meant to run (installed
/// and enabled, or being installed, perhaps starting here or loaded by another node) is retried.
async fn not_loaded(host: &PluginHost, plugin: &str, worker: &str) -> JobError {
    let here = match host.ids() {
        ids if ids.is_empty() => "it runs no plugins".to_owned(),
        ids => format!("it runs: {}", ids.join(", ")),
    };
    match host.store.plugin_get(plugin).await {
        Ok(None) => JobError::permanent(format!(
            "plugin `{plugin}` is not installed ({here} on worker {worker}); install it with `plugboard plugin install`, or name its folder with `serve --plugin DIR`"
        )),
        Ok(Some(installed)) => match installed.state {
            PluginState::Disabled => JobError::permanent(format!(
                "plugin `{plugin}` is disabled; enable it with `plugboard plugin enable {plugin}`"
            )),
            PluginState::Failed => JobError::permanent(format!(
                "plugin `{plugin}` has failed: {}; fix it and enable it again",
                installed.error.as_deref().unwrap_or("no reason recorded")
            )),
            PluginState::Enabled | PluginState::Installing => JobError::retryable(format!(
                "plugin `{plugin}` is not running on worker {worker} yet ({here})"
            )),
        },
        Err(error) => JobError::retryable(format!(
            "plugin `{plugin}` is not loaded on worker {worker} and the registry could not be read: {error}"
        )),
    }
}

/// The payload of a `plugin.run` job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginRunPayload {
    plugin: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    config: Option<ConfigInfo>,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default)]
    payload: Value,
}

/// The `plugin.run` job kind: a job handed to a warm process of its plugin.
pub struct PluginRun {
    host: Option<Arc<PluginHost>>,
}

impl PluginRun {
    /// The kind as a worker runs it.
    pub fn new(host: Arc<PluginHost>) -> PluginRun {
        PluginRun { host: Some(host) }
    }

    /// The kind as an enqueuer checks it (no plugins loaded in this process).
    pub fn for_validation() -> PluginRun {
        PluginRun { host: None }
    }
}

/// Forgets a run's request id, and replaces the instance when the run was abandoned without an
/// answer (a timeout, or a cancel the plugin ignored): a process stuck in a job is not trusted
/// with the next one.
struct RunGuard {
    services: Arc<PluginServices>,
    supervisor: Arc<Supervisor>,
    rpc: super::rpc::RpcClient,
    request: i64,
    pid: i32,
    answered: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        lock(&self.services.runs).remove(&self.request);
        if !self.answered {
            self.rpc.abandon(self.request);
            tracing::warn!(
                pid = self.pid,
                "a plugin run was abandoned without an answer; replacing the instance"
            );
            self.supervisor.replace(self.pid);
        }
    }
}

#[async_trait]
impl JobHandler for PluginRun {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        serde_json::from_value::<PluginRunPayload>(payload.clone())
            .map(|_| ())
            .map_err(|error| format!("{error}; a plugin.run payload is {{\"plugin\": ID, \"tenant\"?, \"config\"?, \"trigger\"?, \"payload\"?}}"))
    }

    fn prepare(&self, job: &mut crate::store::NewJob) {
        if let Ok(request) = serde_json::from_value::<PluginRunPayload>(job.payload.clone()) {
            job.plugin.get_or_insert(request.plugin);
            if let Some(tenant) = request.tenant {
                job.tenant.get_or_insert(tenant);
            }
        }
    }

    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let job = context.job().clone();
        let request: PluginRunPayload = serde_json::from_value(job.payload.clone())
            .map_err(|error| JobError::permanent(format!("invalid plugin.run payload: {error}")))?;
        let host = self
            .host
            .as_ref()
            .ok_or_else(|| JobError::permanent("this process runs no plugins"))?;
        let plugin = request.plugin.clone();
        let outcome = request_for_job(host, &plugin, &context, methods::RUN, |deadline| {
            RunParams {
                job: JobInfo {
                    id: job.id.0,
                    attempt: job.attempt,
                    max_attempts: job.max_attempts,
                    deadline,
                },
                trigger: request.trigger.unwrap_or(Trigger {
                    kind: TriggerKind::Manual,
                    event: None,
                    fire_time: None,
                }),
                tenant: request.tenant,
                config: request.config,
                payload: request.payload,
            }
        })
        .await?;
        match outcome {
            Ok(Ok(result)) => {
                let run: RunResult = serde_json::from_value(result.clone()).unwrap_or(RunResult {
                    result: Some(result),
                });
                Ok(run.result)
            }
            Ok(Err(RpcError::Remote(error))) if error.is_retryable() => {
                Err(JobError::retryable(error.message))
            }
            Ok(Err(RpcError::Remote(error))) => Err(JobError::permanent(error.message)),
            Ok(Err(error)) => Err(JobError::retryable(format!("plugin `{plugin}`: {error}"))),
            Err(_) => Err(JobError::retryable(format!(
                "plugin `{plugin}`: the connection ended"
            ))),
        }
    }
}

/// Why a request of job `job` got no answer when the connection closed under it: the process
/// ended (its exit status and last stderr lines go into the job's log and error), or it closed
/// its stdout.
async fn explain_exit(
    supervisor: &Supervisor,
    services: &PluginServices,
    (job, tenant): (JobId, Option<&str>),
    ready: &super::supervisor::ReadyInstance,
    method: &str,
    reason: String,
) -> RpcError {
    let pid = ready.pid;
    let Some(mut exit) = supervisor.exit_of(pid, Duration::from_secs(2)).await else {
        return RpcError::Closed(reason);
    };
    // Its stderr may speak of the other tenants it served: kept in the host's log then.
    let shared = !may_see_output(tenant, &ready.rpc.served());
    if shared {
        let mut alone = (*exit).clone();
        alone.stderr_tail.clear();
        exit = std::sync::Arc::new(alone);
    }
    let line = |level, message: String| NewLogLine { level, message };
    services.queue_line(
        job,
        line(
            LogLevel::Error,
            format!(
                "[plugboard] the plugin's process (pid {pid}) ended during `{method}` ({}){}",
                exit.status,
                if shared {
                    "; it served other tenants too, so its last stderr lines are in the host's log only"
                } else if exit.stderr_tail.is_empty() {
                    "; it wrote nothing on stderr"
                } else {
                    "; its last stderr lines follow"
                }
            ),
        ),
    );
    for stderr in &exit.stderr_tail {
        services.queue_line(job, line(LogLevel::Error, format!("[stderr] {stderr}")));
    }
    let described = exit.describe(&format!("its process ended during `{method}`"));
    RpcError::Exited(if shared {
        described.replace(
            "and wrote nothing on stderr",
            "having served other tenants too; its last stderr lines are in the host's log",
        )
    } else {
        described
    })
}

/// What a plugin answered a request made for a job: its answer or error (`Ok`), or the
/// connection ended before it answered (`Err`).
pub(super) type JobAnswer = Result<Result<Value, RpcError>, tokio::sync::oneshot::error::RecvError>;

/// Sends `method` to a ready instance of `plugin` on behalf of the job of `context`, and waits
/// for the answer: the plugin's `log` and `progress` for this request become the job's, a cancel
/// of the job (or its timeout) is relayed as `cancel`, and an instance abandoned without an
/// answer is replaced. `params` builds the request's params from the job's deadline (RFC 3339,
/// absent without a timeout). The job's last log lines are stored before this returns.
///
/// # Errors
/// A [`JobError`] when the plugin is not loaded here (retryable or not, by the registry), has
/// failed, or the job was cancelled before an instance was ready.
pub(super) async fn request_for_job<P: serde::Serialize>(
    host: &PluginHost,
    plugin: &str,
    context: &JobContext,
    method: &str,
    params: impl FnOnce(Option<String>) -> P,
) -> Result<JobAnswer, JobError> {
    let job = context.job();
    let (Some(supervisor), Some(services)) = (host.supervisor(plugin), host.services(plugin))
    else {
        return Err(not_loaded(host, plugin, context.worker()).await);
    };
    // Wait for a ready instance with room; the job's timeout bounds the wait.
    let ready = loop {
        if let Some(ready) = supervisor.pick() {
            break ready;
        }
        if let Some(reason) = supervisor.failure() {
            return Err(JobError::retryable(format!(
                "plugin `{plugin}` has failed: {reason}"
            )));
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = context.cancelled() => return Err(JobError::permanent("cancelled while waiting for the plugin")),
        }
    };
    // Before the guard: nothing here may fail once a request id is registered. A timeout
    // too far ahead to write as a date (past the year 9999) sends no deadline.
    let deadline = job.timeout_ms.and_then(|ms| {
        let at = std::time::SystemTime::now()
            .checked_add(Duration::from_millis(u64::try_from(ms).ok()?))?;
        let latest = std::time::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        (at <= latest).then(|| humantime::format_rfc3339_millis(at).to_string())
    });
    let params = params(deadline);
    let request_id = ready.rpc.reserve_id();
    lock(&services.runs).insert(request_id, (job.id, job.tenant.clone()));
    let mut guard = RunGuard {
        services: services.clone(),
        supervisor: supervisor.clone(),
        rpc: ready.rpc.clone(),
        request: request_id,
        pid: ready.pid,
        answered: false,
    };
    let answer = ready
        .rpc
        .send_request_as(request_id, method, &params)
        .map_err(|error| JobError::retryable(error.to_string()))?;
    tokio::pin!(answer);
    let mut cancel_sent = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut answer => break outcome,
            () = context.cancelled(), if !cancel_sent => {
                let reason = match context.stop_reason() {
                    Some(StopReason::TimedOut) => "the job ran past its timeout",
                    _ => "the job was cancelled",
                };
                ready.rpc.notify(methods::CANCEL, json!({"requestId": request_id, "reason": reason}));
                cancel_sent = true;
            }
        }
    };
    guard.answered = true;
    let outcome = match outcome {
        Ok(Err(RpcError::Closed(reason))) => Ok(Err(explain_exit(
            &supervisor,
            &services,
            (job.id, job.tenant.as_deref()),
            &ready,
            method,
            reason,
        )
        .await)),
        Err(_) => Ok(Err(explain_exit(
            &supervisor,
            &services,
            (job.id, job.tenant.as_deref()),
            &ready,
            method,
            "the connection ended".to_owned(),
        )
        .await)),
        outcome => outcome,
    };
    // Bounded: a slow store must not turn a finished run into a timed-out one.
    if tokio::time::timeout(Duration::from_secs(5), services.flush(job.id))
        .await
        .is_err()
    {
        tracing::warn!(job = %job.id, "the plugin's last log lines are still being written");
    }
    Ok(outcome)
}
