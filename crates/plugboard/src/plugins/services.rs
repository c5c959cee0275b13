//! The host services a plugin calls back: `log` and `progress` notifications tied to a `run`
//! (by its request id) become the job's log lines and progress; `kv/*` reads and writes the
//! store, scoped to the plugin and the tenant; `emit` records an event. Log lines go through one
//! bounded queue per plugin and are written in order, in batches; a plugin that floods it loses
//! lines (counted in a note), never the host's memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::error::{HOST_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND};
use plugboard_protocol::methods::{self, KvGetResult};
use plugboard_protocol::ErrorObject;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::rpc::HostServices;
use crate::store::{
    ConfigFilter, JobId, JobOutput, KvQuery, KvScope, LogLevel, NewEvent, NewLogLine, Store,
};

use super::host::lock;

/// Log lines waiting to be written, per plugin; beyond, lines are dropped and counted.
const LOG_QUEUE: usize = 10_000;
/// Bytes of log lines waiting to be written, per plugin; beyond, lines are dropped and counted.
const LOG_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// The longest log line kept; the rest of a longer one is cut with a note.
const MAX_LOG_MESSAGE_BYTES: usize = 64 * 1024;
/// Log lines not tied to a run go to the host's own log, at most this many per second per
/// plugin; the rest are counted and the count logged.
const UNTIED_LOG_LINES_PER_SECOND: u32 = 100;
const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// A `kv/list` page ends once its values reach this many bytes (it holds one value more at
/// most): the answer the host builds for one request stays near this size, well under what the
/// connection queues for a plugin.
const KV_LIST_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The host services one plugin calls.
pub struct PluginServices {
    plugin: String,
    store: Arc<dyn Store>,
    /// Which job (and its tenant) each in-flight request made for a job belongs to.
    pub(super) runs: Mutex<HashMap<i64, (JobId, Option<String>)>>,
    logs: mpsc::Sender<Written>,
    /// Bytes of the log lines in `logs`, bounded by [`LOG_QUEUE_BYTES`].
    queued_bytes: Arc<AtomicUsize>,
    dropped_logs: AtomicU64,
    /// Lines not tied to a run: the start of the current one-second window, lines logged in it,
    /// lines dropped in it.
    untied: Mutex<(std::time::Instant, u32, u64)>,
}

impl PluginServices {
    pub(super) fn start(plugin: String, store: Arc<dyn Store>) -> Arc<PluginServices> {
        let (logs, queue) = mpsc::channel(LOG_QUEUE);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let services = Arc::new(PluginServices {
            plugin,
            store: store.clone(),
            runs: Mutex::new(HashMap::new()),
            logs,
            queued_bytes: queued_bytes.clone(),
            dropped_logs: AtomicU64::new(0),
            untied: Mutex::new((std::time::Instant::now(), 0, 0)),
        });
        tokio::spawn(write_logs(store, queue, queued_bytes));
        services
    }

    /// Queues a log line of a run, unless the queue is full (in lines or bytes): then the line is
    /// counted, and the count noted in the job's log when the run ends.
    pub(super) fn queue_line(&self, job: JobId, line: NewLogLine) {
        let bytes = line.message.len();
        let queued = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if queued > LOG_QUEUE_BYTES || self.logs.try_send(Written::Line(job, line)).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.dropped_logs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Logs a line not tied to a run in the host's log, at most
    /// [`UNTIED_LOG_LINES_PER_SECOND`] a second.
    fn log_untied(&self, level: LogLevel, message: &str) {
        let dropped_before = {
            let mut window = lock(&self.untied);
            if window.0.elapsed() >= Duration::from_secs(1) {
                let dropped = window.2;
                *window = (std::time::Instant::now(), 0, 0);
                dropped
            } else {
                0
            }
        };
        if dropped_before > 0 {
            tracing::warn!(plugin = %self.plugin, dropped = dropped_before, "log lines not tied to a run were dropped: more than {UNTIED_LOG_LINES_PER_SECOND} a second");
        }
        {
            let mut window = lock(&self.untied);
            if window.1 >= UNTIED_LOG_LINES_PER_SECOND {
                window.2 += 1;
                return;
            }
            window.1 += 1;
        }
        match level {
            LogLevel::Error => tracing::error!(plugin = %self.plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin = %self.plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin = %self.plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin = %self.plugin, "{message}"),
        }
    }

    /// Waits until everything the plugin sent for its runs so far is stored, so that a job is
    /// never finished before its last log line is readable. Notes lost lines in the job's log.
    pub(super) async fn flush(&self, job: JobId) {
        let dropped = self.dropped_logs.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = format!("[plugboard] {dropped} log lines of plugin {} were dropped: it wrote them faster than they could be stored", self.plugin);
            self.queued_bytes.fetch_add(note.len(), Ordering::AcqRel);
            let _ = self
                .logs
                .send(Written::Line(
                    job,
                    NewLogLine {
                        level: LogLevel::Warn,
                        message: note,
                    },
                ))
                .await;
        }
        let (answer, written) = tokio::sync::oneshot::channel();
        if self.logs.send(Written::Flush(answer)).await.is_ok() {
            let _ = written.await;
        }
    }

    fn job_of(&self, params: &Value) -> Option<JobId> {
        let id = params.get("requestId")?.as_i64()?;
        lock(&self.runs).get(&id).map(|(job, _)| *job)
    }

    fn scope(&self, params: &Value) -> Result<(KvScope, String), ErrorObject> {
        let tenant = params
            .get("tenant")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = params.get("key").and_then(Value::as_str).ok_or_else(|| {
            ErrorObject::new(INVALID_PARAMS, "`key` is required and must be a string")
        })?;
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(ErrorObject::new(
                INVALID_PARAMS,
                format!("a key must be 1 to {MAX_KEY_BYTES} bytes"),
            ));
        }
        Ok((
            KvScope {
                plugin: self.plugin.clone(),
                tenant,
            },
            key.to_owned(),
        ))
    }
}

fn host_error(error: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::new(HOST_ERROR, format!("the host could not do that: {error}"))
}

#[async_trait]
impl HostServices for PluginServices {
    async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, ErrorObject> {
        let params = params.unwrap_or(Value::Null);
        match method {
            methods::KV_GET => {
                let (scope, key) = self.scope(&params)?;
                let value = self.store.kv_get(&scope, &key).await.map_err(host_error)?;
                Ok(json!(KvGetResult { value }))
            }
            methods::KV_SET => {
                let (scope, key) = self.scope(&params)?;
                let value = params
                    .get("value")
                    .cloned()
                    .ok_or_else(|| ErrorObject::new(INVALID_PARAMS, "`value` is required"))?;
                if value.to_string().len() > MAX_VALUE_BYTES {
                    return Err(ErrorObject::new(
                        INVALID_PARAMS,
                        "a value must be at most 1 MiB of JSON",
                    ));
                }
                self.store
                    .kv_set(&scope, &key, value)
                    .await
                    .map_err(host_error)?;
                Ok(json!({}))
            }
            methods::KV_DELETE => {
                let (scope, key) = self.scope(&params)?;
                let deleted = self
                    .store
                    .kv_delete(&scope, &key)
                    .await
                    .map_err(host_error)?;
                Ok(json!({"deleted": deleted}))
            }
            methods::KV_LIST => {
                let list: methods::KvListParams = serde_json::from_value(params)
                    .map_err(|error| ErrorObject::new(INVALID_PARAMS, error.to_string()))?;
                let scope = KvScope {
                    plugin: self.plugin.clone(),
                    tenant: list.tenant,
                };
                let limit = list.limit.unwrap_or(1000).clamp(1, 1000) as usize;
                let query = KvQuery {
                    prefix: &list.prefix,
                    after: list.cursor.as_deref(),
                    limit,
                    max_bytes: KV_LIST_PAGE_BYTES,
                };
                let items = self
                    .store
                    .kv_list(&scope, &query)
                    .await
                    .map_err(host_error)?;
                // A page the byte budget ended early says so with a cursor too: asked whether
                // one more value follows.
                let last = items.last().map(|(key, _)| key.clone());
                let more = items.len() == limit
                    || match &last {
                        Some(last) => !self
                            .store
                            .kv_list(
                                &scope,
                                &KvQuery {
                                    after: Some(last),
                                    limit: 1,
                                    max_bytes: 1,
                                    ..query
                                },
                            )
                            .await
                            .map_err(host_error)?
                            .is_empty(),
                        None => false,
                    };
                let next_cursor = if more { last } else { None };
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|(key, value)| json!({"key": key, "value": value}))
                    .collect();
                Ok(json!({"items": items, "nextCursor": next_cursor}))
            }
            methods::EMIT => {
                let emit: methods::EmitParams = serde_json::from_value(params)
                    .map_err(|error| ErrorObject::new(INVALID_PARAMS, error.to_string()))?;
                // A plugin raises events for the tenants it serves: those with a config of it.
                let serves = self
                    .store
                    .config_list(ConfigFilter {
                        tenant: Some(emit.tenant.clone()),
                        plugin: Some(self.plugin.clone()),
                        limit: 1,
                    })
                    .await
                    .map_err(host_error)?;
                if serves.is_empty() {
                    return Err(ErrorObject::new(
                        plugboard_protocol::error::PERMISSION_DENIED,
                        format!(
                            "emit needs a tenant this plugin serves; `{}` has no config of {}",
                            emit.tenant, self.plugin
                        ),
                    ));
                }
                let recorded = self
                    .store
                    .event_record(NewEvent {
                        tenant: emit.tenant,
                        event_type: emit.event_type,
                        payload: emit.payload,
                        idempotency_key: emit.idempotency_key,
                        source: Some(format!("plugin:{}", self.plugin)),
                    })
                    .await
                    .map_err(host_error)?;
                Ok(json!({"eventId": recorded.id.to_string()}))
            }
            other => Err(ErrorObject::new(
                METHOD_NOT_FOUND,
                format!("the host has no method `{other}`"),
            )),
        }
    }

    fn notification(&self, method: &str, params: Option<Value>) {
        let params = params.unwrap_or(Value::Null);
        match method {
            methods::LOG => {
                let message = cut(
                    params.get("message").and_then(Value::as_str).unwrap_or(""),
                    MAX_LOG_MESSAGE_BYTES,
                );
                let level = match params.get("level").and_then(Value::as_str) {
                    Some("debug") => LogLevel::Debug,
                    Some("warn") => LogLevel::Warn,
                    Some("error") => LogLevel::Error,
                    _ => LogLevel::Info,
                };
                match self.job_of(&params) {
                    Some(job) => self.queue_line(job, NewLogLine { level, message }),
                    None => self.log_untied(level, &message),
                }
            }
            methods::PROGRESS => {
                if let Some(job) = self.job_of(&params) {
                    let progress = json!({
                        "progress": params.get("progress"),
                        "total": params.get("total"),
                        "message": params.get("message"),
                    });
                    // Progress is a latest value: one dropped when the queue is full is replaced by
                    // the next.
                    let _ = self.logs.try_send(Written::Progress(job, progress));
                }
            }
            other => tracing::debug!(plugin = %self.plugin, method = other, "ignored notification"),
        }
    }

    fn stray_line(
        &self,
        line: &str,
        reason: &str,
        waiting: &[i64],
        served: &std::collections::HashSet<Option<String>>,
    ) {
        // Only while a single request is in flight may the line be that job's.
        let [request] = waiting else { return };
        let Some((job, tenant)) = lock(&self.runs).get(request).cloned() else {
            return;
        };
        if !may_see_output(tenant.as_deref(), served) {
            return;
        }
        self.queue_line(
            job,
            NewLogLine {
                level: LogLevel::Warn,
                message: format!(
                    "[plugboard] the plugin wrote a line on stdout that is not a message ({reason}): {line:?}; stdout carries protocol messages only, one per line: write debug output to stderr or send it with `log`"
                ),
            },
        );
    }
}

/// Whether the readers of a job of `tenant` may see what a plugin process wrote that served
/// the tenants `served` since it started: a tenant's job gets it only when the process served
/// that tenant alone (its text may otherwise concern another tenant, even one served before this
/// job); a job of no tenant is read by global tokens only, which see every tenant anyway.
pub(super) fn may_see_output(
    tenant: Option<&str>,
    served: &std::collections::HashSet<Option<String>>,
) -> bool {
    match tenant {
        None => true,
        Some(tenant) => served.len() == 1 && served.contains(&Some(tenant.to_owned())),
    }
}

/// `text`, cut to at most `max` bytes (at a character boundary) with a note of what was cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} [plugboard: {} more bytes of this line were cut]",
        &text[..end],
        text.len() - end
    )
}

/// What a plugin's runs send to be stored, in the order the plugin sent it.
enum Written {
    Line(JobId, NewLogLine),
    Progress(JobId, Value),
    /// Answered once everything queued before it is stored.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Writes plugins' log lines and progress in order, in batches: each batch appends each job's
/// lines in one call and keeps only each job's latest progress.
async fn write_logs(
    store: Arc<dyn Store>,
    mut queue: mpsc::Receiver<Written>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let mut batch: Vec<Written> = Vec::new();
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < 1000 {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut outputs: Vec<JobOutput> = Vec::new();
        let mut flushes = Vec::new();
        for item in batch.drain(..) {
            let (job_id, line, progress) = match item {
                Written::Flush(answer) => {
                    flushes.push(answer);
                    continue;
                }
                Written::Line(job, line) => {
                    queued_bytes.fetch_sub(line.message.len(), Ordering::AcqRel);
                    (job, Some(line), None)
                }
                Written::Progress(job, progress) => (job, None, Some(progress)),
            };
            let index = match outputs.iter().position(|output| output.job_id == job_id) {
                Some(index) => index,
                None => {
                    outputs.push(JobOutput {
                        job_id,
                        lines: Vec::new(),
                        progress: None,
                    });
                    outputs.len() - 1
                }
            };
            let output = &mut outputs[index];
            output.lines.extend(line);
            // Progress is a latest value: only each job's last one is written.
            if progress.is_some() {
                output.progress = progress;
            }
        }
        // One store call for the batch: one SQLite transaction, each job's lines in order.
        if !outputs.is_empty() {
            match store.job_output_write(outputs).await {
                Ok(gone) if gone.is_empty() => {}
                Ok(gone) => tracing::debug!(
                    jobs = ?gone,
                    "plugin output for jobs that no longer exist was dropped"
                ),
                Err(error) => {
                    tracing::warn!(%error, "writing plugins' log lines and progress failed")
                }
            }
        }
        for answer in flushes {
            let _ = answer.send(());
        }
    }
}

#[cfg(test)]
mod stray_tests {
    use super::*;
    use crate::store::testing::TestStore;

    #[tokio::test]
    async fn a_stray_line_reaches_a_tenants_job_only_from_a_process_that_served_that_tenant_alone()
    {
        let test = TestStore::sqlite().await;
        let store = test.store.clone();
        let mut ids = Vec::new();
        for tenant in ["alpha", "beta"] {
            let mut job = crate::store::NewJob::new("noop", json!({}));
            job.tenant = Some(tenant.to_owned());
            ids.push(store.job_enqueue(job).await.unwrap().id);
        }
        let (alpha, beta) = (ids[0], ids[1]);
        let services = PluginServices::start("p".to_owned(), store.clone());
        lock(&services.runs).insert(1, (alpha, Some("alpha".to_owned())));
        lock(&services.runs).insert(2, (beta, Some("beta".to_owned())));
        let served = |tenants: &[&str]| -> std::collections::HashSet<Option<String>> {
            tenants
                .iter()
                .map(|tenant| Some((*tenant).to_owned()))
                .collect()
        };
        // Two requests in flight: the line may be either job's; neither gets it.
        services.stray_line(
            "secret of one tenant",
            "not JSON",
            &[1, 2],
            &served(&["alpha", "beta"]),
        );
        // Beta's run alone in flight, in a process that served alpha before: a late line of
        // alpha's run (written after its answer) must not reach beta's log.
        services.stray_line(
            "alpha's late secret",
            "not JSON",
            &[2],
            &served(&["alpha", "beta"]),
        );
        services.flush(beta).await;
        assert!(store.log_list(alpha, 0, 10).await.unwrap().is_empty());
        assert!(store.log_list(beta, 0, 10).await.unwrap().is_empty());
        // A process that served beta alone: beta's log says it.
        services.stray_line("debug: x=1", "not JSON", &[2], &served(&["beta"]));
        services.flush(beta).await;
        let lines = store.log_list(beta, 0, 10).await.unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].message.contains("\"debug: x=1\""), "{lines:?}");
        assert!(store.log_list(alpha, 0, 10).await.unwrap().is_empty());
        test.finish().await;
    }

    #[tokio::test]
    async fn emit_is_refused_for_a_tenant_the_plugin_does_not_serve() {
        let test = TestStore::sqlite().await;
        let store = test.store.clone();
        let services = PluginServices::start("p".to_owned(), store.clone());
        let emit = json!({"tenant": "globex", "type": "p.happened", "payload": null});
        let refused = services
            .request(methods::EMIT, Some(emit.clone()))
            .await
            .expect_err("globex has no config of p");
        assert_eq!(refused.code, plugboard_protocol::error::PERMISSION_DENIED);
        assert!(
            refused.message.contains("`globex` has no config of p"),
            "{refused:?}"
        );
        assert!(store
            .event_list(crate::store::EventFilter::default())
            .await
            .unwrap()
            .is_empty());
        test.finish().await;
    }
}
