//! Following a job over the API: its log lines from the SSE stream
//! (`GET /api/v1/jobs/{id}/logs`, `Accept: text/event-stream`), resumed after the last line when
//! the connection drops, and its `progress` as a bar on a terminal.
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
    let mut failures = 0;
    loop {
        let response = client
            .send(
                Method::GET,
                &format!("/api/v1/jobs/{id}/logs?after_seq={last}"),
                None,
                Some("text/event-stream"),
            )
            .await?;
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let (mut event, mut data) = (String::new(), String::new());
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find('\n') {
                let line = buffer[..end].trim_end_matches('\r').to_owned();
                buffer.drain(..=end);
                if line.is_empty() {
                    match event.as_str() {
                        "log" => {
                            let line: Value = serde_json::from_str(&data)
                                .context("the server sent a log event that is not JSON")?;
                            last = line["seq"].as_i64().unwrap_or(last);
                            on_line(&line)?;
                        }
                        "end" => return Ok(()),
                        "error" => anyhow::bail!("the log stream of job {id} failed: {data}"),
                        _ => {}
                    }
                    event.clear();
                    data.clear();
                } else if let Some(value) = line.strip_prefix("event:") {
                    event = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
        }
        failures += 1;
        if failures > 5 {
            anyhow::bail!(
                "the log stream of job {id} kept dropping; `plugboard job show {id}` tells how it went"
            );
        }
    }
}

/// How progress is shown: a bar on a terminal, plain lines elsewhere.
#[derive(Clone)]
pub struct Display {
    bar: Option<ProgressBar>,
}

impl Display {
    /// A bar when stderr is a terminal.
    pub fn new() -> Display {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Display { bar }
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
    // The bar shows the job's progress, which the log stream does not carry: ask for it while
    // the lines come in.
    let poll = display.bar.is_some().then(|| {
        let (client, display) = (
            ApiClient::new(client.base(), Some(client.token())),
            display.clone(),
        );
        tokio::spawn(async move {
            let Ok(client) = client else { return };
            loop {
                if let Ok(job) = client
                    .call(Method::GET, &format!("/api/v1/jobs/{id}"), None)
                    .await
                {
                    if !job["progress"].is_null() {
                        display.progress(&job["progress"]);
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    });
    let streamed = stream_logs(client, id, 0, |line| {
        let level = match text(&line["level"]).as_str() {
            "info" => String::new(),
            other => format!("{other}: "),
        };
        display.line(&format!("{level}{}", text(&line["message"])));
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
