//! Following jobs over the API: a job's log lines from the SSE stream
//! (`GET /api/v1/jobs/{id}/logs`, `Accept: text/event-stream`) and jobs' changes
//! (`GET /api/v1/jobs/changes`), each resumed after the last event when the connection drops, and
//! a job's `progress` as a bar on a terminal.
//!
//! On a terminal, stderr shows a progress bar (the job's current step, and a percentage while it
//! downloads) with the log lines above it. Elsewhere (a pipe, a file, CI) there is no bar: the log
//! lines are printed as plain lines, and they name every step.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use super::client::ApiClient;
use super::output::text;

/// Reads Server-Sent Events from `response`, calling `on_event(event, id, data)` for each, until
/// it answers true (done: returns true) or the stream ends or drops (returns false).
///
/// # Errors
/// What `on_event` returns.
async fn read_events(
    response: reqwest::Response,
    mut on_event: impl FnMut(&str, Option<&str>, &str) -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let (mut event, mut id, mut data) = (String::new(), None::<String>, String::new());
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find('\n') {
            let line = buffer[..end].trim_end_matches('\r').to_owned();
            buffer.drain(..=end);
            if line.is_empty() {
                if !event.is_empty() && on_event(&event, id.as_deref(), &data)? {
                    return Ok(true);
                }
                event.clear();
                id = None;
                data.clear();
            } else if let Some(value) = line.strip_prefix("event:") {
                event = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            }
        }
    }
    Ok(false)
}

/// How often a dropped stream is opened again before giving up.
const RECONNECTS: u32 = 5;

/// Reads the log stream of job `id` after line `after`, calling `on_line` with each line, until
/// the job has ended.
///
/// # Errors
/// The server refuses the stream, or it keeps dropping.
pub async fn stream_logs(
    client: &ApiClient,
    id: i64,
    after: i64,
    mut on_line: impl FnMut(&Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut last = after;
    for _ in 0..=RECONNECTS {
        let response = client
            .send(
                Method::GET,
                &format!("/api/v1/jobs/{id}/logs?after_seq={last}"),
                None,
                Some("text/event-stream"),
            )
            .await?;
        let ended = read_events(response, |event, _, data| match event {
            "log" => {
                let line: Value = serde_json::from_str(data)
                    .context("the server sent a log event that is not JSON")?;
                last = line["seq"].as_i64().unwrap_or(last);
                on_line(&line)?;
                Ok(false)
            }
            "end" => Ok(true),
            "error" => anyhow::bail!("the log stream of job {id} failed: {data}"),
            _ => Ok(false),
        })
        .await?;
        if ended {
            return Ok(());
        }
    }
    anyhow::bail!(
        "the log stream of job {id} kept dropping; `plugboard job show {id}` tells how it went"
    )
}

/// Reads the change stream at `path` (`/api/v1/jobs/changes?…` or `/api/v1/jobs/{id}/changes`)
/// after position `after` (from now when `None`), calling `on_change(position, job)` for each
/// change, resuming after the last one when the connection drops. Returns once a stream of one
/// job ends (`end`), or when `on_change` answers true.
///
/// # Errors
/// The server refuses the stream, or it keeps dropping.
pub async fn stream_changes(
    client: &ApiClient,
    path: &str,
    after: Option<String>,
    mut on_change: impl FnMut(&str, &Value) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut last = after;
    let mut failures = 0u32;
    let mut connected = false;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let address = match &last {
            Some(position) => format!("{path}{separator}after={position}"),
            None => path.to_owned(),
        };
        // A refusal at the first request is the answer (a wrong token, no such job); once the
        // stream ran, a failing reconnect (a server restarting) is tried again.
        let response = match client
            .send(Method::GET, &address, None, Some("text/event-stream"))
            .await
        {
            Ok(response) => response,
            Err(error) if failures == 0 && !connected => return Err(error),
            Err(error) => {
                failures += 1;
                if failures > RECONNECTS {
                    return Err(error.context(resume_hint(last.as_deref())));
                }
                tokio::time::sleep(Duration::from_millis(500 * u64::from(failures))).await;
                continue;
            }
        };
        connected = true;
        let ended = read_events(response, |event, id, data| match event {
            "start" => {
                last = id.map(str::to_owned).or(last.take());
                Ok(false)
            }
            "job" => {
                let job: Value = serde_json::from_str(data)
                    .context("the server sent a change that is not JSON")?;
                let position = id.unwrap_or_default().to_owned();
                let done = on_change(&position, &job)?;
                last = Some(position);
                failures = 0;
                Ok(done)
            }
            "end" => Ok(true),
            "error" => anyhow::bail!("the change stream failed: {data}"),
            _ => Ok(false),
        })
        .await?;
        if ended {
            return Ok(());
        }
        failures += 1;
        if failures > RECONNECTS {
            anyhow::bail!("{}", resume_hint(last.as_deref()));
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(failures))).await;
    }
}

/// What to say when a change stream cannot be kept open.
fn resume_hint(last: Option<&str>) -> String {
    match last {
        Some(position) => {
            format!("the change stream kept dropping; resume with --after {position}")
        }
        None => "the change stream kept dropping; try again".to_owned(),
    }
}

/// How progress is shown: a bar on a terminal, plain lines elsewhere.
#[derive(Clone)]
pub struct Display {
    bar: Option<ProgressBar>,
    /// The last error line of the job's log shown, so that the ending does not repeat it.
    errors_shown: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Display {
    /// A bar when stderr is a terminal.
    pub fn new() -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Display {
            bar,
            errors_shown: std::sync::Arc::default(),
        }
    }

    /// True when the last error line of the log shown said `error` (a line that ends with it,
    /// as the worker writes an attempt's error).
    pub fn has_shown(&self, error: &str) -> bool {
        !error.is_empty()
            && self
                .errors_shown
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .as_ref()
                .is_some_and(|line| line.ends_with(error))
    }

    /// A line for the person watching, above the bar.
    pub fn line(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    /// Bytes sent of an upload of `total` bytes.
    pub fn bytes(&self, sent: u64, total: u64) {
        if let Some(bar) = &self.bar {
            if bar.length() != Some(total) {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_length(total);
                bar.set_message("uploading");
            }
            bar.set_position(sent);
        }
    }

    /// The job's `progress`: `{"step", "message"}`, with `percent` while downloading.
    fn progress(&self, progress: &Value) {
        let Some(bar) = &self.bar else { return };
        let step = text(&progress["step"]);
        let message = match text(&progress["message"]) {
            empty if empty.is_empty() => step,
            message => message,
        };
        match progress["percent"].as_u64() {
            Some(percent) => {
                if bar.length() != Some(100) {
                    bar.set_style(
                        ProgressStyle::with_template("{msg} [{bar:30}] {pos}%")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_length(100);
                }
                bar.set_position(percent.min(100));
            }
            None => {
                bar.set_style(ProgressStyle::default_spinner());
                bar.unset_length();
            }
        }
        bar.set_message(message);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Follows job `id` until it ends, showing its log lines and progress on stderr; answers the
/// job as the API shows it once it has ended.
///
/// # Errors
/// The server unreachable or refusing.
pub async fn follow_job(
    client: &ApiClient,
    job: &Value,
    display: &Display,
) -> anyhow::Result<Value> {
    let id = job["id"]
        .as_i64()
        .context("the server answered a job without an id")?;
    display.line(&format!(
        "job {id} ({}) enqueued; following it (Ctrl-C stops following, not the job)",
        text(&job["kind"])
    ));
    // The bar shows the job's progress, which the log stream does not carry: follow the job's
    // changes beside its lines.
    let poll = display.bar.is_some().then(|| {
        let (client, display) = (
            ApiClient::new(client.base(), Some(client.token())),
            display.clone(),
        );
        tokio::spawn(async move {
            let Ok(client) = client else { return };
            let _ = stream_changes(
                &client,
                &format!("/api/v1/jobs/{id}/changes"),
                None,
                |_, job| {
                    if !job["progress"].is_null() {
                        display.progress(&job["progress"]);
                    }
                    Ok(false)
                },
            )
            .await;
        })
    });
    let streamed = stream_logs(client, id, 0, |line| {
        let level = match text(&line["level"]).as_str() {
            "info" => String::new(),
            other => format!("{other}: "),
        };
        let message = text(&line["message"]);
        if level == "error: " {
            *display
                .errors_shown
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(message.clone());
        }
        display.line(&format!("{level}{message}"));
        Ok(())
    })
    .await;
    if let Some(poll) = poll {
        poll.abort();
        let _ = poll.await;
    }
    display.finish();
    streamed?;
    client
        .call(Method::GET, &format!("/api/v1/jobs/{id}"), None)
        .await
}
