//! Schedules and events through real `plugboard serve` processes: every fire of every config
//! becomes exactly one job while nodes are killed with SIGKILL and restarted, on three nodes
//! sharing PostgreSQL and on one SQLite node; an event a node accepted but did not fan out is
//! delivered once by the next node up.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard::schedule::ScheduleSpec;
use plugboard::store::{
    JobFilter, MetadataState, NewEvent, PluginMetadataRecord, Store, Timestamp,
};
use plugboard::tenants::{ConfigRequest, SecretKey, Tenants};
use serde_json::json;

use crate::harness::{sqlite_store, temp_dir, PostgresSchema, TestHost};

/// How long the schedules run.
const RUN_FOR: Duration = Duration::from_secs(60);
const CONFIGS: usize = 20;

/// The metadata `plugin` reported, as if it had started (no process runs it here).
async fn plugin_reported(store: &Arc<dyn Store>, plugin: &str, metadata: serde_json::Value) {
    store
        .plugin_metadata_put(PluginMetadataRecord {
            plugin: plugin.into(),
            version: "1.0.0".into(),
            checksum: "test".into(),
            state: MetadataState::Fresh,
            metadata: Some(metadata),
            error: None,
            updated_at: Timestamp(0),
        })
        .await
        .unwrap();
}

/// Tenant `acme`, and a plugin `plugin` that reported `metadata`.
async fn acme_with(store: &Arc<dyn Store>, plugin: &str, metadata: serde_json::Value) -> Tenants {
    plugin_reported(store, plugin, metadata).await;
    let tenants = Tenants::new(store.clone(), SecretKey::from_bytes(&[3; 32]));
    tenants.create_tenant("acme", None).await.unwrap();
    tenants
}

/// A tenant with `CONFIGS` configs of plugin `ticker` firing every second; returns each one's
/// starting cursor (its first fire is the first whole second after it).
async fn every_second_configs(store: &Arc<dyn Store>) -> HashMap<String, Timestamp> {
    let tenants = acme_with(store, "ticker", json!({"configSchema": {"type": "object"}})).await;
    let mut cursors = HashMap::new();
    for index in 0..CONFIGS {
        let view = tenants
            .set_config(ConfigRequest {
                tenant: "acme".into(),
                plugin: "ticker".into(),
                name: format!("c{index}"),
                values: Some(json!({})),
                // allow: the jobs fail at once (no ticker plugin is loaded), and the test counts
                // fires, not how runs overlap.
                schedule: Some(Some(
                    ScheduleSpec::parse(r#"{"cron": "* * * * * *", "overlap": "allow"}"#).unwrap(),
                )),
                ..ConfigRequest::default()
            })
            .await
            .unwrap();
        cursors.insert(
            view.config.id.clone(),
            view.config.last_fire_at.expect("a cursor"),
        );
    }
    cursors
}

/// Every second in `(after, until]`.
fn seconds_between(after: Timestamp, until: Timestamp) -> BTreeSet<i64> {
    let first = after.0 / 1_000_000 + 1;
    (first..=until.0 / 1_000_000).collect()
}

/// Fails unless each config has exactly one job per whole second after its own cursor, up to
/// `until`. Returns how many jobs were checked.
async fn assert_one_job_per_fire(
    store: &Arc<dyn Store>,
    cursors: &HashMap<String, Timestamp>,
    until: Timestamp,
) -> usize {
    let mut jobs = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .job_list(JobFilter {
                kind: Some("plugin.run".into()),
                before_id,
                limit: 5_000,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before_id = Some(last.id);
        jobs.extend(page);
    }
    let mut fires: HashMap<String, Vec<i64>> = HashMap::new();
    for job in &jobs {
        let fire = job.payload["trigger"]["fireTime"]
            .as_str()
            .expect("a schedule job names its fire time");
        let fire = chrono::DateTime::parse_from_rfc3339(fire)
            .unwrap()
            .timestamp_micros();
        assert_eq!(fire % 1_000_000, 0, "fires fall on whole seconds");
        fires
            .entry(job.config.clone().expect("a config"))
            .or_default()
            .push(fire / 1_000_000);
    }
    assert_eq!(fires.len(), CONFIGS, "every config fired");
    let mut checked = 0;
    for (config_id, mut seconds) in fires {
        seconds.sort_unstable();
        let count = seconds.len();
        seconds.dedup();
        assert_eq!(seconds.len(), count, "config {config_id} has a fire twice");
        let fired: BTreeSet<i64> = seconds
            .into_iter()
            .filter(|s| *s <= until.0 / 1_000_000)
            .collect();
        let expected = seconds_between(cursors[&config_id], until);
        let missing: Vec<_> = expected.difference(&fired).collect();
        let extra: Vec<_> = fired.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "config {config_id}: missing fires {missing:?}, unexpected fires {extra:?}"
        );
        checked += fired.len();
    }
    checked
}

/// Runs the schedules for `RUN_FOR` while `nodes` serve; kills the first with SIGKILL a third
/// of the way in and starts it again a few seconds later.
async fn run_with_a_kill9(data_dirs: &[&Path], flags: &[&str]) -> Timestamp {
    let started = Instant::now();
    let mut nodes: Vec<Option<TestHost>> = data_dirs
        .iter()
        .map(|dir| Some(TestHost::start(dir, flags)))
        .collect();
    tokio::time::sleep(RUN_FOR / 3).await;
    nodes[0].take().expect("the first node").kill9();
    tokio::time::sleep(Duration::from_secs(4)).await;
    nodes[0] = Some(TestHost::start(data_dirs[0], flags));
    let left = RUN_FOR.saturating_sub(started.elapsed());
    tokio::time::sleep(left).await;
    // Fires up to a second before the stop have had five ticks to be enqueued.
    let until = Timestamp(Timestamp::now().0 - 1_000_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs: Vec<String> = nodes.iter().flatten().map(TestHost::log).collect();
    for node in nodes.into_iter().flatten() {
        assert!(node.terminate().success(), "{}", logs.join("\n---\n"));
    }
    until
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_postgres_nodes_fire_every_second_exactly_once_through_a_kill9() {
    let Some(schema) =
        PostgresSchema::new("three_postgres_nodes_fire_every_second_exactly_once_through_a_kill9")
    else {
        return;
    };
    let store = schema.store().await;
    let cursors = every_second_configs(&store).await;
    let flags = schema.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let dirs = [temp_dir(), temp_dir(), temp_dir()];
    let paths: Vec<&Path> = dirs.iter().map(|dir| dir.path()).collect();
    let until = run_with_a_kill9(&paths, &flags).await;
    let checked = assert_one_job_per_fire(&store, &cursors, until).await;
    assert!(checked >= CONFIGS * 50, "only {checked} fires checked");
    store.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sqlite_node_fires_every_second_exactly_once_through_a_kill9() {
    let data = temp_dir();
    let store = sqlite_store(data.path()).await;
    let cursors = every_second_configs(&store).await;
    let until = run_with_a_kill9(&[data.path()], &[]).await;
    let checked = assert_one_job_per_fire(&store, &cursors, until).await;
    assert!(checked >= CONFIGS * 50, "only {checked} fires checked");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_fires_first_one_interval_after_creation_and_once_per_interval() {
    let data = temp_dir();
    let store = sqlite_store(data.path()).await;
    let tenants = acme_with(
        &store,
        "ticker",
        json!({"configSchema": {"type": "object"}}),
    )
    .await;
    let host = TestHost::start(data.path(), &[]);
    let view = tenants
        .set_config(ConfigRequest {
            tenant: "acme".into(),
            plugin: "ticker".into(),
            name: "every-2s".into(),
            values: Some(json!({})),
            schedule: Some(Some(
                ScheduleSpec::parse(r#"{"interval_seconds": 2}"#).unwrap(),
            )),
            ..ConfigRequest::default()
        })
        .await
        .unwrap();
    let config = view.config;
    let period = 2_000_000;
    // What it shows is what will fire: the first fire one interval after creation.
    assert_eq!(
        config.next_fire_at,
        Some(Timestamp(config.created_at.0 + period))
    );
    let shown = config.next_fire_at.map(plugboard::schedule::format_time);
    assert_eq!(
        shown.as_ref(),
        view.next_fires.first(),
        "{:?}",
        view.next_fires
    );

    tokio::time::sleep(Duration::from_millis(7_500)).await;
    let mut fires: Vec<String> = store
        .job_list(JobFilter {
            limit: 100,
            ..JobFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|job| job.config.as_deref() == Some(config.id.as_str()))
        .filter_map(|job| job.unique_key)
        .collect();
    fires.sort();
    // Three fires in 7.5 s, each on its own beat: none doubled, none at creation.
    let expected: Vec<String> = (1..=3)
        .map(|k| {
            plugboard::schedule::fire_key(&config.id, Timestamp(config.created_at.0 + k * period))
        })
        .collect();
    assert_eq!(fires, expected);
    assert!(host.terminate().success());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_accepted_by_a_node_that_died_is_delivered_once_by_the_next() {
    let data = temp_dir();
    let store = sqlite_store(data.path()).await;
    let tenants = acme_with(&store, "forms", json!({})).await;
    for index in 0..50 {
        tenants
            .set_config(ConfigRequest {
                tenant: "acme".into(),
                plugin: "forms".into(),
                name: format!("c{index}"),
                events: Some(vec!["form.*".into()]),
                ..ConfigRequest::default()
            })
            .await
            .unwrap();
    }
    // What a node that died right after acknowledging the event left behind: the event, no jobs.
    let recorded = store
        .event_record(NewEvent {
            tenant: "acme".into(),
            event_type: "form.submitted".into(),
            payload: json!({"email": "a@example.com"}),
            idempotency_key: Some("submission-1".into()),
            source: Some("api".into()),
        })
        .await
        .unwrap();
    let node = TestHost::start(data.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = store.event_get(recorded.id).await.unwrap().unwrap();
        if event.delivered_at.is_some() {
            assert_eq!(event.deliveries, Some(50));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the event was never delivered:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Posting it again with its key does nothing.
    let output = crate::harness::plugboard(&[
        "event",
        "post",
        "form.submitted",
        "--tenant",
        "acme",
        "--idempotency-key",
        "submission-1",
        "--json",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["created"], json!(false));
    let jobs = store
        .job_list(JobFilter {
            kind: Some("plugin.run".into()),
            limit: 1_000,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 50);
    assert!(node.terminate().success());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_and_events_are_refused_through_the_binary_and_store_nothing() {
    let data = temp_dir();
    let dir = data.path().to_str().unwrap();
    let store = sqlite_store(data.path()).await;
    plugin_reported(
        &store,
        "uptime",
        json!({"configSchema": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "every": {"type": "integer", "minimum": 10},
                "token": {"type": "string", "writeOnly": true}
            },
            "additionalProperties": false
        }}),
    )
    .await;
    // The commands call the server running on the data directory.
    let host = crate::harness::TestHost::start(data.path(), &[]);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", dir]);
        crate::harness::plugboard(&all)
    };
    let refused = |args: &[&str], expected: &[&str]| {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "`{}` should fail", args.join(" "));
        for text in expected {
            assert!(
                stderr.contains(text),
                "`{}` should say {text:?}:\n{stderr}",
                args.join(" ")
            );
        }
    };
    assert!(run(&["tenant", "create", "acme"]).status.success());
    let set = [
        "config", "set", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
    ];
    refused(
        &[
            &set[..],
            &[
                "--values",
                r#"{"url": "not a uri", "every": 3, "colour": "red"}"#,
            ],
        ]
        .concat(),
        &[
            "/url:",
            "/every:",
            "colour",
            "do not match plugin uptime's config schema",
        ],
    );
    refused(
        &[
            &set[..],
            &[
                "--values",
                r#"{"url": "https://example.com"}"#,
                "--schedule",
                r#"{"cron": "0 0 9 * * MOON"}"#,
            ],
        ]
        .concat(),
        &["invalid cron expression", "day of week field `MOON`"],
    );
    refused(
        &[
            &set[..],
            &[
                "--values",
                r#"{"url": "https://example.com"}"#,
                "--schedule",
                r#"{"cron": "0 0 9 * * *", "timezone": "Europe/Nowhere"}"#,
            ],
        ]
        .concat(),
        &["unknown time zone `Europe/Nowhere`"],
    );
    refused(
        &["event", "post", "form.submitted", "--tenant", "nobody"],
        &["tenant `nobody` does not exist"],
    );
    let configs = run(&["config", "list", "--json"]);
    let configs: serde_json::Value = serde_json::from_slice(&configs.stdout).unwrap();
    assert_eq!(configs, json!({"configs": []}), "nothing stored half-way");
    let events = run(&["event", "list", "--json"]);
    let events: serde_json::Value = serde_json::from_slice(&events.stdout).unwrap();
    assert_eq!(events["events"], json!([]));
    // A good one, with a secret that reads never show.
    let stored = run(&[
        &set[..],
        &[
            "--values",
            r#"{"url": "https://example.com", "token": "s3cret"}"#,
            "--json",
        ],
    ]
    .concat());
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let shown = run(&[
        "config", "show", "--tenant", "acme", "--plugin", "uptime", "--name", "home",
    ]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains("********") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert!(host.terminate().success());
    store.close().await;
}
