//! The benchmark's report: the peers' raw JSON and the summary `shared/peers/common/summarize.py`
//! computes from it (same fields, same nearest-rank percentiles).

use serde_json::{json, Value};

pub(super) fn with_name(mut raw: Value, name: &str) -> Value {
    raw["peer"] = json!(name);
    raw
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

pub(super) fn summarize(raw: &Value) -> anyhow::Result<Value> {
    let n = raw["n"].as_f64().unwrap_or(0.0);
    let runs = raw["throughput_runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rate = |field: &str| -> Vec<f64> {
        runs.iter()
            .filter_map(|run| run[field].as_f64())
            .filter(|s| *s > 0.0)
            .map(|s| n / s)
            .collect()
    };
    let enqueue_rates = rate("enqueue_s");
    let process_rates = rate("process_s");
    let first_to_last = rate("first_to_last_s");
    let mut boots: Vec<f64> = runs
        .iter()
        .filter_map(|run| run["boot_ms"].as_f64())
        .collect();
    let rss = runs
        .iter()
        .filter_map(|run| run["max_rss_kb"].as_f64())
        .fold(None, |max: Option<f64>, v| {
            Some(max.map_or(v, |m| m.max(v)))
        });
    let mut samples: Vec<f64> = raw["latency"]["samples_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    samples.sort_by(f64::total_cmp);
    let single = &raw["single_enqueue"];
    Ok(json!({
        "peer": raw["peer"],
        "versions": raw["versions"],
        "settings": raw["settings"],
        "n": raw["n"],
        "reps": runs.len(),
        "enqueue_rate_median": median(&mut enqueue_rates.clone()),
        "enqueue_rates": enqueue_rates,
        "single_enqueue_rate": single["n"].as_f64().zip(single["seconds"].as_f64()).map(|(n, s)| n / s),
        "process_rate_median": median(&mut process_rates.clone()),
        "process_rates": process_rates,
        "first_to_last_rate_median": median(&mut first_to_last.clone()),
        "worker_boot_ms_median": median(&mut boots),
        "throughput_worker_max_rss_mb": rss.map(|kb| kb / 1024.0),
        "latency_n": samples.len(),
        "latency_interval_ms": raw["latency"]["interval_ms"],
        "latency_p50_ms": percentile(&samples, 50.0),
        "latency_p90_ms": percentile(&samples, 90.0),
        "latency_p99_ms": percentile(&samples, 99.0),
        "latency_max_ms": samples.last(),
        "latency_worker_max_rss_mb": raw["latency"]["max_rss_kb"].as_f64().map(|kb| kb / 1024.0),
        "notes": raw["notes"],
    }))
}

pub(super) fn print(summary: &Value) {
    let number = |value: &Value, decimals: usize| {
        value
            .as_f64()
            .map(|v| format!("{v:.decimals$}"))
            .unwrap_or_else(|| "n/a".to_owned())
    };
    println!(
        "== {}  {}",
        summary["peer"].as_str().unwrap_or(""),
        summary["versions"]
    );
    println!(
        "   settings: {}",
        summary["settings"].as_str().unwrap_or("")
    );
    println!(
        "   enqueue (bulk) : median {} jobs/s",
        number(&summary["enqueue_rate_median"], 0)
    );
    println!(
        "   enqueue (1-by-1, sequential): {} jobs/s",
        number(&summary["single_enqueue_rate"], 0)
    );
    println!(
        "   processing     : median {} jobs/s   runs {}  (first-job->last-job median {} jobs/s; worker boot {} ms)",
        number(&summary["process_rate_median"], 0),
        summary["process_rates"],
        number(&summary["first_to_last_rate_median"], 0),
        number(&summary["worker_boot_ms_median"], 0)
    );
    println!(
        "   latency        : p50 {} ms  p90 {} ms  p99 {} ms  max {} ms  (n={})",
        number(&summary["latency_p50_ms"], 2),
        number(&summary["latency_p90_ms"], 2),
        number(&summary["latency_p99_ms"], 2),
        number(&summary["latency_max_ms"], 2),
        summary["latency_n"]
    );
    println!(
        "   peak RSS       : throughput worker {} MiB, latency worker {} MiB",
        number(&summary["throughput_worker_max_rss_mb"], 1),
        number(&summary["latency_worker_max_rss_mb"], 1)
    );
}
