//! `plugboard job import FILE|-`: jobs read as NDJSON (one `POST /api/v1/jobs` body per line)
//! and sent over the API in batches (`POST /api/v1/jobs/batch`), with a progress bar on a
//! terminal. A refused job stops the import at its line; the batches before it are stored, and
//! the message says how many, so the rest can be sent again with `--skip`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{json, Value};

use super::client::ApiClient;
use crate::words;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A file of jobs, one JSON object per line as `POST /api/v1/jobs` takes it
    /// (`{"kind": "plugin.run", "payload": {...}}`), or `-` for stdin; blank lines are skipped
    pub file: String,
    /// Jobs per request: 1 to 5000
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Skip this many jobs first (to resume an import that stopped)
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    #[command(flatten)]
    pub client: super::client::ClientArgs,
}

/// One job of the file, with its line number.
struct Line {
    number: usize,
    job: Value,
}

fn read(file: &str) -> anyhow::Result<Vec<Line>> {
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {file}"))?,
        ))
    };
    let mut lines = Vec::new();
    for (index, text) in reader.lines().enumerate() {
        let number = index + 1;
        let text = text.with_context(|| format!("cannot read line {number} of {file}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let job: Value = serde_json::from_str(&text).with_context(|| {
            format!("line {number} of {file} is not JSON; write one job object per line")
        })?;
        anyhow::ensure!(
            job.is_object(),
            "line {number} of {file} is not a JSON object; write one job per line, as POST /api/v1/jobs takes it"
        );
        lines.push(Line { number, job });
    }
    Ok(lines)
}

pub async fn run(client: &ApiClient, args: ImportArgs) -> anyhow::Result<i32> {
    anyhow::ensure!(
        (1..=5000).contains(&args.batch),
        "--batch {} is out of range; use 1 to 5000",
        args.batch
    );
    let lines = read(&args.file)?;
    let lines = &lines[args.skip.min(lines.len())..];
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(lines.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("importing [{bar:30}] {pos}/{len} jobs ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let (mut created, mut existing) = (0usize, 0usize);
    for (chunk_index, chunk) in lines.chunks(args.batch).enumerate() {
        let jobs: Vec<&Value> = chunk.iter().map(|line| &line.job).collect();
        let (status, answer) = client
            .call_answer(
                Method::POST,
                "/api/v1/jobs/batch",
                Some(json!({"jobs": jobs})),
            )
            .await?;
        if status != 200 {
            bar.abandon();
            let sent = args.skip + chunk_index * args.batch;
            let detail = answer["detail"].as_str().unwrap_or("refused");
            // `/jobs/N: …` names the job of this batch; say its line instead.
            let (line, detail) = match detail
                .strip_prefix("/jobs/")
                .and_then(|rest| rest.split_once(": "))
                .and_then(|(index, rest)| Some((index.parse::<usize>().ok()?, rest)))
            {
                Some((index, rest)) if index < chunk.len() => {
                    (format!("line {}", chunk[index].number), rest)
                }
                _ => (format!("the batch from line {}", chunk[0].number), detail),
            };
            anyhow::bail!(
                "{line} of {} was refused (HTTP {status}): {detail}; nothing of that batch was stored, {} before it were (run again with --skip {sent} once it is fixed)",
                args.file,
                words::count((sent - args.skip) as u64, "job"),
            );
        }
        for item in answer["jobs"].as_array().into_iter().flatten() {
            if item["created"] == json!(true) {
                created += 1;
            } else {
                existing += 1;
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    println!(
        "{} enqueued, {} existed already (same unique_key)",
        words::count(created as u64, "job"),
        existing
    );
    Ok(0)
}
