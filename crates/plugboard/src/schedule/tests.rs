//! Tests of schedule specs, fire computation across daylight-saving changes, the misfire and
//! overlap policies, and the scheduler against a real store with a clock moved by hand.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::store::testing::TestStore;
use crate::store::{Config, ConfigPut, JobFilter, ScheduleCursor};

fn at(text: &str) -> Timestamp {
    Timestamp(
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("a test time")
            .timestamp_micros(),
    )
}

fn spec(value: serde_json::Value) -> ScheduleSpec {
    ScheduleSpec::from_value(&value).expect("a test spec")
}

fn compiled(value: serde_json::Value) -> Schedule {
    spec(value)
        .compile(at("2026-01-01T00:00:00Z"))
        .expect("a valid test spec")
}

/// Every fire a scheduler would handle, evaluating at `step_seconds` intervals from `from` to
/// `to` with the cursor carried over, as a node's ticks do.
fn fires_over(
    schedule: &Schedule,
    from: Timestamp,
    to: Timestamp,
    step_seconds: i64,
) -> Vec<String> {
    let mut cursor = from;
    let mut now = from;
    let mut fires = Vec::new();
    while now <= to {
        let evaluation = evaluate(schedule, cursor, now);
        fires.extend(evaluation.fires.iter().map(|fire| format_time(*fire)));
        cursor = evaluation.cursor;
        now = Timestamp(now.0 + step_seconds * 1_000_000);
    }
    fires
}

#[test]
fn a_fixed_time_in_the_skipped_hour_fires_once_after_the_gap() {
    // Europe/Berlin springs forward on 2026-03-29 at 02:00 CET to 03:00 CEST: 02:30 does not
    // exist that day.
    let schedule = compiled(
        json!({"cron": "0 30 2 * * *", "timezone": "Europe/Berlin", "misfire_grace_seconds": 3600}),
    );
    let fires = fires_over(
        &schedule,
        at("2026-03-27T00:00:00Z"),
        at("2026-03-31T00:00:00Z"),
        60,
    );
    assert_eq!(
        fires,
        [
            "2026-03-27T01:30:00.000000Z",
            "2026-03-28T01:30:00.000000Z",
            "2026-03-29T01:00:00.000000Z",
            "2026-03-30T00:30:00.000000Z",
        ]
    );
}

#[test]
fn a_fixed_time_in_the_repeated_hour_fires_once() {
    // Europe/Berlin falls back on 2026-10-25 at 03:00 CEST to 02:00 CET: 02:30 happens twice.
    let schedule = compiled(
        json!({"cron": "0 30 2 * * *", "timezone": "Europe/Berlin", "misfire_grace_seconds": 3600}),
    );
    let fires = fires_over(
        &schedule,
        at("2026-10-23T12:00:00Z"),
        at("2026-10-27T00:00:00Z"),
        60,
    );
    assert_eq!(
        fires,
        [
            "2026-10-24T00:30:00.000000Z",
            "2026-10-25T00:30:00.000000Z",
            "2026-10-26T01:30:00.000000Z",
        ]
    );
}

#[test]
fn a_frequent_pattern_keeps_real_time_spacing_through_both_changes() {
    let schedule = compiled(json!({"cron": "0 */15 * * * *", "timezone": "America/New_York"}));
    for (from, to) in [
        ("2026-03-08T04:00:00Z", "2026-03-08T10:00:00Z"),
        ("2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z"),
    ] {
        let fires = schedule.upcoming(Timestamp(at(from).0 - 1), 1_000);
        let fires: Vec<Timestamp> = fires
            .into_iter()
            .take_while(|fire| *fire <= at(to))
            .collect();
        for pair in fires.windows(2) {
            assert_eq!(
                pair[1].0 - pair[0].0,
                15 * 60 * 1_000_000,
                "between {} and {}",
                format_time(pair[0]),
                format_time(pair[1])
            );
        }
        let hours = (at(to).0 - at(from).0) / 3_600_000_000;
        assert_eq!(fires.len() as i64, hours * 4 + 1);
    }
}

#[test]
fn the_scheduler_across_a_change_with_a_controlled_clock_fires_once_per_intended_time() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let test_store = TestStore::sqlite().await;
        let store = test_store.store.clone();
        let clock = Arc::new(ManualClock::new(at("2026-10-24T20:00:00Z")));
        store.tenant_create("acme", "Acme").await.unwrap();
        let spec = spec(
            json!({"cron": "0 0,30 * * * *", "timezone": "Europe/Berlin", "overlap": "allow"}),
        );
        let schedule = spec.compile(clock.now()).unwrap();
        store
            .config_put(ConfigPut {
                config: test_config("c1", spec.to_value()),
                cursor: Some(ScheduleCursor {
                    last_fire_at: Some(clock.now()),
                    next_fire_at: schedule.next_after(clock.now()),
                }),
            })
            .await
            .unwrap();
        let scheduler = Scheduler::new(store.clone(), clock.clone(), SchedulerConfig::default());
        // Ten hours of ticks every 20 s across the change (01:00 UTC on 2026-10-25).
        while clock.now() < at("2026-10-25T06:00:00Z") {
            clock.advance(20_000_000);
            scheduler.tick().await.unwrap();
        }
        let jobs = store
            .job_list(JobFilter {
                limit: 1_000,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        let mut keys: Vec<String> = jobs
            .iter()
            .filter_map(|job| job.unique_key.clone())
            .collect();
        keys.sort();
        // Every half hour of real time from 20:30 to 06:00 UTC: 20 fires; the local 02:00 and
        // 02:30 happen twice and are real, distinct half-hours.
        assert_eq!(keys.len(), 20, "{keys:#?}");
        keys.dedup();
        assert_eq!(keys.len(), 20);
        assert_eq!(keys[0], "schedule:c1:2026-10-24T20:30:00.000000Z");
        test_store.finish().await;
    });
}

fn test_config(id: &str, schedule: serde_json::Value) -> Config {
    Config {
        id: id.to_owned(),
        tenant: "acme".to_owned(),
        plugin: "uptime".to_owned(),
        name: id.to_owned(),
        values: json!({}),
        enabled: true,
        schedule: Some(schedule),
        events: Vec::new(),
        invalid_reason: None,
        last_fire_at: None,
        next_fire_at: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

#[test]
fn missed_fires_run_once_or_are_skipped() {
    let run_once = compiled(json!({"interval_seconds": 10}));
    let cursor = at("2026-01-01T00:00:00Z");
    let now = at("2026-01-01T01:00:05Z");
    let evaluation = evaluate(&run_once, cursor, now);
    assert!(evaluation.misfired);
    // One catch-up fire for the hour missed, then the fires within the grace period.
    assert_eq!(evaluation.fires[0], at("2026-01-01T00:59:00Z"));
    assert_eq!(evaluation.fires.len(), 1 + 6);
    assert_eq!(evaluation.cursor, at("2026-01-01T01:00:00Z"));
    assert_eq!(evaluation.next_fire, Some(at("2026-01-01T01:00:10Z")));

    let skip = compiled(json!({"interval_seconds": 10, "misfire": "skip"}));
    let evaluation = evaluate(&skip, cursor, now);
    assert_eq!(
        evaluation.fires.len(),
        6,
        "only the fires within the grace period"
    );
    assert_eq!(evaluation.fires[0], at("2026-01-01T00:59:10Z"));
}

#[test]
fn queue_overlap_handles_one_fire_at_a_time() {
    let schedule = compiled(json!({"interval_seconds": 10, "overlap": "queue"}));
    let evaluation = evaluate(
        &schedule,
        at("2026-01-01T00:00:00Z"),
        at("2026-01-01T00:00:35Z"),
    );
    assert_eq!(evaluation.fires, [at("2026-01-01T00:00:10Z")]);
    assert_eq!(evaluation.cursor, at("2026-01-01T00:00:10Z"));
    assert_eq!(evaluation.next_fire, Some(at("2026-01-01T00:00:20Z")));
}

#[test]
fn start_end_pause_and_jitter() {
    let schedule = compiled(json!({
        "interval_seconds": 60,
        "start": "2026-02-01T00:00:00Z",
        "end": "2026-02-01T00:03:00Z",
        "jitter_seconds": 30
    }));
    assert_eq!(
        schedule.upcoming(at("2026-01-15T00:00:00Z"), 10),
        [
            at("2026-02-01T00:00:00Z"),
            at("2026-02-01T00:01:00Z"),
            at("2026-02-01T00:02:00Z"),
            at("2026-02-01T00:03:00Z"),
        ]
    );
    let fire = at("2026-02-01T00:01:00Z");
    let jitter = schedule.jitter_for("cfg_1", fire);
    assert!((0..30_000_000).contains(&jitter));
    assert_eq!(
        jitter,
        schedule.jitter_for("cfg_1", fire),
        "the same on every node"
    );
    let paused = compiled(json!({"interval_seconds": 60, "paused": true}));
    let evaluation = evaluate(
        &paused,
        at("2026-01-01T00:00:00Z"),
        at("2026-01-02T00:00:00Z"),
    );
    assert!(evaluation.fires.is_empty());
    assert_eq!(evaluation.next_fire, None);
}

#[test]
fn bad_specs_say_what_is_wrong() {
    let message = |value: serde_json::Value| {
        spec(value)
            .compile(Timestamp(0))
            .expect_err("a bad spec")
            .to_string()
    };
    let wrong_hour = message(json!({"cron": "0 0 25 * * *"}));
    assert!(wrong_hour.contains("hour field `25`"), "{wrong_hour}");
    let wrong_minute = message(json!({"cron": "61 * * * *"}));
    assert!(wrong_minute.contains("minute field `61`"), "{wrong_minute}");
    let fields = message(json!({"cron": "* * *"}));
    assert!(fields.contains("it has 3 fields"), "{fields}");
    let zone = message(json!({"cron": "* * * * *", "timezone": "Mars/Olympus"}));
    assert!(zone.contains("unknown time zone `Mars/Olympus`"), "{zone}");
    let both = message(json!({"cron": "* * * * *", "interval_seconds": 5}));
    assert!(both.contains("keep one"), "{both}");
    let range = message(
        json!({"interval_seconds": 5, "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}),
    );
    assert!(range.contains("before start"), "{range}");
    let unknown = ScheduleSpec::parse(r#"{"every": 5}"#).expect_err("an unknown field");
    assert!(
        unknown.to_string().contains("unknown field `every`"),
        "{unknown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_schedule_that_cannot_be_evaluated_marks_its_config_invalid() {
    let test_store = TestStore::sqlite().await;
    let store = test_store.store.clone();
    store.tenant_create("acme", "Acme").await.unwrap();
    store
        .config_put(ConfigPut {
            config: test_config("c1", json!({"cron": "not cron"})),
            cursor: Some(ScheduleCursor {
                last_fire_at: Some(Timestamp(0)),
                next_fire_at: Some(Timestamp(1)),
            }),
        })
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-01-01T00:00:00Z")));
    let scheduler = Scheduler::new(store.clone(), clock, SchedulerConfig::default());
    assert_eq!(scheduler.tick().await.unwrap().broken, 1);
    let config = store.config_get("c1").await.unwrap().unwrap();
    assert!(config
        .invalid_reason
        .unwrap()
        .contains("invalid cron expression"));
    assert_eq!(
        scheduler.tick().await.unwrap(),
        TickReport::default(),
        "not due again"
    );
    test_store.finish().await;
}
