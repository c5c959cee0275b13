//! Conformance of tenants, configs, schedule fires and event delivery, on both stores.

use std::sync::Arc;

use serde_json::json;

use crate::store::{
    ActiveRule, Config, ConfigFilter, ConfigFire, ConfigPut, EventFilter, FireOutcome, JobFilter,
    NewEvent, NewJob, ScheduleCursor, Store, StoreError, Timestamp,
};

crate::store::testing::for_each_store!(
    tenants_are_created_once_listed_and_deleted_with_their_configs,
    config_names_are_unique_per_tenant_and_plugin,
    config_for_unknown_tenant_is_refused,
    config_put_keeps_the_cursor_unless_told,
    due_configs_are_enabled_valid_and_past_their_next_fire,
    fire_applies_once_from_one_cursor,
    concurrent_fires_of_one_config_apply_once,
    fire_skips_or_defers_while_a_run_is_active,
    subscribed_configs_and_event_delivery,
    events_are_listed_filtered_and_pruned,
    config_create_never_replaces,
    concurrent_creates_of_one_config_store_exactly_one,
    webhooks_are_set_replaced_and_go_with_their_config,
);

/// When the conformance configs were made, as their caller says.
const CREATED: Timestamp = Timestamp(1_760_000_000_000_000);

fn config(id: &str, tenant: &str, name: &str) -> Config {
    Config {
        id: id.to_owned(),
        tenant: tenant.to_owned(),
        plugin: "uptime".to_owned(),
        name: name.to_owned(),
        values: json!({"url": "https://example.com", "token": {"$sealed": "v1:xyz"}}),
        enabled: true,
        schedule: Some(json!({"interval_seconds": 60})),
        events: vec!["site.*".to_owned()],
        invalid_reason: None,
        last_fire_at: None,
        next_fire_at: None,
        created_at: CREATED,
        updated_at: Timestamp(0),
    }
}

fn cursor(last: i64, next: i64) -> Option<ScheduleCursor> {
    Some(ScheduleCursor {
        last_fire_at: Some(Timestamp(last)),
        next_fire_at: Some(Timestamp(next)),
    })
}

fn fire(id: &str, expected: i64, new: i64, jobs: Vec<NewJob>) -> ConfigFire {
    ConfigFire {
        config_id: id.to_owned(),
        expected_last_fire: Some(Timestamp(expected)),
        last_fire_at: Timestamp(new),
        next_fire_at: Some(Timestamp(new + 1_000_000)),
        jobs,
        when_active: ActiveRule::Enqueue,
    }
}

fn fire_job(config_id: &str, fire: i64) -> NewJob {
    let mut job = NewJob::new("plugin.run", json!({"plugin": "uptime"}));
    job.config = Some(config_id.to_owned());
    job.unique_key = Some(format!("schedule:{config_id}:{fire}"));
    job
}

async fn put(store: &Arc<dyn Store>, config: Config, cursor: Option<ScheduleCursor>) -> Config {
    store
        .config_put(ConfigPut { config, cursor })
        .await
        .expect("config stored")
}

async fn tenants_are_created_once_listed_and_deleted_with_their_configs(store: Arc<dyn Store>) {
    let acme = store.tenant_create("acme", "Acme Inc.").await.unwrap();
    assert_eq!(
        (acme.id.as_str(), acme.name.as_str()),
        ("acme", "Acme Inc.")
    );
    store.tenant_create("beta", "Beta").await.unwrap();
    assert!(matches!(
        store.tenant_create("acme", "again").await,
        Err(StoreError::Conflict(_))
    ));
    let ids: Vec<String> = store
        .tenant_list()
        .await
        .unwrap()
        .into_iter()
        .map(|tenant| tenant.id)
        .collect();
    assert_eq!(ids, ["acme", "beta"]);
    assert_eq!(
        store.tenant_get("acme").await.unwrap().unwrap().name,
        "Acme Inc."
    );
    put(&store, config("c1", "acme", "main"), None).await;
    assert!(store.tenant_delete("acme").await.unwrap());
    assert!(!store.tenant_delete("acme").await.unwrap());
    assert!(store.tenant_get("acme").await.unwrap().is_none());
    assert!(
        store.config_get("c1").await.unwrap().is_none(),
        "a deleted tenant's configs go with it"
    );
}

async fn config_names_are_unique_per_tenant_and_plugin(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    store.tenant_create("beta", "Beta").await.unwrap();
    let stored = put(&store, config("c1", "acme", "main"), None).await;
    assert_eq!(stored.values["token"], json!({"$sealed": "v1:xyz"}));
    assert_eq!(stored.events, ["site.*"]);
    // The caller's creation time (intervals count from it), kept when the config is replaced.
    assert_eq!(stored.created_at, CREATED);
    assert!(stored.updated_at.0 > CREATED.0);
    let mut later = config("c1", "acme", "main");
    later.created_at = Timestamp(CREATED.0 + 5_000_000);
    assert_eq!(put(&store, later, None).await.created_at, CREATED);
    put(&store, config("c2", "beta", "main"), None).await;
    let clash = store
        .config_put(ConfigPut {
            config: config("c3", "acme", "main"),
            cursor: None,
        })
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    assert!(store.config_get("c3").await.unwrap().is_none());
    let found = store
        .config_find("acme", "uptime", "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "c1");
    let listed = store
        .config_list(ConfigFilter {
            tenant: Some("beta".into()),
            ..ConfigFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        store
            .config_list(ConfigFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store.config_delete("c2").await.unwrap());
    assert!(!store.config_delete("c2").await.unwrap());
}

async fn config_for_unknown_tenant_is_refused(store: Arc<dyn Store>) {
    let refused = store
        .config_put(ConfigPut {
            config: config("c1", "nobody", "main"),
            cursor: None,
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert!(store.config_get("c1").await.unwrap().is_none());
}

async fn config_put_keeps_the_cursor_unless_told(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    let first = put(&store, config("c1", "acme", "main"), cursor(10, 20)).await;
    assert_eq!(first.last_fire_at, Some(Timestamp(10)));
    assert_eq!(first.next_fire_at, Some(Timestamp(20)));
    let mut changed = config("c1", "acme", "main");
    changed.values = json!({"url": "https://other.example"});
    let second = put(&store, changed, None).await;
    assert_eq!(second.values, json!({"url": "https://other.example"}));
    assert_eq!(
        (second.last_fire_at, second.next_fire_at),
        (Some(Timestamp(10)), Some(Timestamp(20)))
    );
    let reset = put(&store, config("c1", "acme", "main"), cursor(30, 40)).await;
    assert_eq!(reset.next_fire_at, Some(Timestamp(40)));
    assert!(store
        .config_set_invalid("c1", Some("/url: missing".into()))
        .await
        .unwrap());
    assert_eq!(
        store
            .config_get("c1")
            .await
            .unwrap()
            .unwrap()
            .invalid_reason
            .as_deref(),
        Some("/url: missing")
    );
}

async fn due_configs_are_enabled_valid_and_past_their_next_fire(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    put(&store, config("due", "acme", "a"), cursor(0, 100)).await;
    put(&store, config("later", "acme", "b"), cursor(0, 900)).await;
    let mut disabled = config("disabled", "acme", "c");
    disabled.enabled = false;
    put(&store, disabled, cursor(0, 100)).await;
    put(&store, config("invalid", "acme", "d"), cursor(0, 50)).await;
    store
        .config_set_invalid("invalid", Some("bad".into()))
        .await
        .unwrap();
    let mut unscheduled = config("none", "acme", "e");
    unscheduled.schedule = None;
    put(&store, unscheduled, None).await;
    let due: Vec<String> = store
        .config_due(Timestamp(500), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|config| config.id)
        .collect();
    assert_eq!(due, ["due"]);
    assert_eq!(
        store.config_due(Timestamp(1_000), 10).await.unwrap().len(),
        2
    );
    assert_eq!(
        store.config_due(Timestamp(1_000), 1).await.unwrap().len(),
        1
    );
}

async fn fire_applies_once_from_one_cursor(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    put(&store, config("c1", "acme", "main"), cursor(0, 100)).await;
    let outcomes = store
        .config_fire_many(vec![fire("c1", 0, 100, vec![fire_job("c1", 100)])])
        .await
        .unwrap();
    let FireOutcome::Applied {
        enqueued,
        skipped_active,
    } = &outcomes[0]
    else {
        panic!("the first fire applies: {outcomes:?}");
    };
    assert!(!skipped_active);
    assert!(enqueued[0].created);
    let stored = store.config_get("c1").await.unwrap().unwrap();
    assert_eq!(stored.last_fire_at, Some(Timestamp(100)));
    assert_eq!(stored.next_fire_at, Some(Timestamp(1_000_100)));
    let again = store
        .config_fire_many(vec![fire("c1", 0, 100, vec![fire_job("c1", 100)])])
        .await
        .unwrap();
    assert_eq!(
        again,
        [FireOutcome::Stale],
        "the cursor moved: nothing applies"
    );
    let mut disabled = config("c1", "acme", "main");
    disabled.enabled = false;
    put(&store, disabled, None).await;
    let on_disabled = store
        .config_fire_many(vec![fire("c1", 100, 200, vec![fire_job("c1", 200)])])
        .await
        .unwrap();
    assert_eq!(on_disabled, [FireOutcome::Stale]);
    let jobs = store.job_list(JobFilter::default()).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].config.as_deref(), Some("c1"));
}

async fn concurrent_fires_of_one_config_apply_once(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    for index in 0..5 {
        put(
            &store,
            config(&format!("c{index}"), "acme", &format!("n{index}")),
            cursor(0, 100),
        )
        .await;
    }
    // Eight "nodes" evaluate the same five configs at once, in different orders.
    let mut tasks = Vec::new();
    for node in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut fires: Vec<ConfigFire> = (0..5)
                .map(|index| {
                    let id = format!("c{index}");
                    fire(&id, 0, 100, vec![fire_job(&id, 100)])
                })
                .collect();
            if node % 2 == 1 {
                fires.reverse();
            }
            store.config_fire_many(fires).await.unwrap()
        }));
    }
    let mut applied = 0;
    for task in tasks {
        for outcome in task.await.unwrap() {
            if let FireOutcome::Applied { enqueued, .. } = outcome {
                applied += 1;
                assert!(enqueued.iter().all(|job| job.created));
            }
        }
    }
    assert_eq!(applied, 5, "each config's fire applied exactly once");
    assert_eq!(store.job_list(JobFilter::default()).await.unwrap().len(), 5);
}

async fn fire_skips_or_defers_while_a_run_is_active(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    put(&store, config("c1", "acme", "main"), cursor(0, 100)).await;
    let mut deferred = fire("c1", 0, 100, vec![fire_job("c1", 100)]);
    deferred.when_active = ActiveRule::DeferWhileActive;
    let first = store
        .config_fire_many(vec![deferred.clone()])
        .await
        .unwrap();
    assert!(matches!(&first[0], FireOutcome::Applied { enqueued, .. } if enqueued.len() == 1));
    // c1 now has a queued job.
    let mut queued = fire("c1", 100, 200, vec![fire_job("c1", 200)]);
    queued.when_active = ActiveRule::DeferWhileActive;
    assert_eq!(
        store.config_fire_many(vec![queued]).await.unwrap(),
        [FireOutcome::Deferred]
    );
    assert_eq!(
        store.config_get("c1").await.unwrap().unwrap().last_fire_at,
        Some(Timestamp(100)),
        "a deferred fire leaves the cursor"
    );
    let mut skipped = fire("c1", 100, 200, vec![fire_job("c1", 200)]);
    skipped.when_active = ActiveRule::SkipWhileActive;
    assert_eq!(
        store.config_fire_many(vec![skipped]).await.unwrap(),
        [FireOutcome::Applied {
            enqueued: Vec::new(),
            skipped_active: true
        }]
    );
    assert_eq!(
        store.config_get("c1").await.unwrap().unwrap().last_fire_at,
        Some(Timestamp(200))
    );
    assert_eq!(store.job_list(JobFilter::default()).await.unwrap().len(), 1);
}

async fn subscribed_configs_and_event_delivery(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    put(&store, config("c1", "acme", "a"), None).await;
    let mut quiet = config("c2", "acme", "b");
    quiet.events = Vec::new();
    put(&store, quiet, None).await;
    let mut disabled = config("c3", "acme", "c");
    disabled.enabled = false;
    put(&store, disabled, None).await;
    let subscribed: Vec<String> = store
        .config_subscribed("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|config| config.id)
        .collect();
    assert_eq!(subscribed, ["c1"]);
    let recorded = store
        .event_record(NewEvent {
            tenant: "acme".into(),
            event_type: "site.down".into(),
            payload: json!({"url": "https://example.com"}),
            idempotency_key: None,
            source: Some("api".into()),
        })
        .await
        .unwrap();
    let event = store.event_get(recorded.id).await.unwrap().unwrap();
    assert_eq!(event.event_type, "site.down");
    assert_eq!(event.delivered_at, None);
    assert!(store.event_mark_delivered(recorded.id, 1).await.unwrap());
    assert!(
        !store.event_mark_delivered(recorded.id, 1).await.unwrap(),
        "delivery is recorded once"
    );
    let event = store.event_get(recorded.id).await.unwrap().unwrap();
    assert!(event.delivered_at.is_some());
    assert_eq!(event.deliveries, Some(1));
}

async fn events_are_listed_filtered_and_pruned(store: Arc<dyn Store>) {
    for (index, event_type) in ["a.one", "b.two", "a.three"].iter().enumerate() {
        let recorded = store
            .event_record(NewEvent {
                tenant: if index == 1 { "beta" } else { "acme" }.into(),
                event_type: (*event_type).into(),
                payload: json!({}),
                idempotency_key: None,
                source: None,
            })
            .await
            .unwrap();
        if index == 0 {
            store.event_mark_delivered(recorded.id, 0).await.unwrap();
        }
    }
    let acme = store
        .event_list(EventFilter {
            tenant: Some("acme".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        acme.iter()
            .map(|event| event.event_type.as_str())
            .collect::<Vec<_>>(),
        ["a.three", "a.one"],
        "newest first"
    );
    let undelivered = store
        .event_list(EventFilter {
            undelivered_only: true,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(undelivered.len(), 2);
    let by_type = store
        .event_list(EventFilter {
            event_type: Some("b.two".into()),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_type.len(), 1);
    let pruned = store
        .event_prune(Timestamp(Timestamp::now().0 + 1_000_000))
        .await
        .unwrap();
    assert_eq!(pruned, 1, "only delivered events are pruned");
    assert_eq!(
        store
            .event_list(EventFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn config_create_never_replaces(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    let created = store
        .config_create(ConfigPut {
            config: config("c1", "acme", "main"),
            cursor: cursor(10, 20),
        })
        .await
        .unwrap();
    assert_eq!(created.id, "c1");
    assert_eq!(created.next_fire_at, Some(Timestamp(20)));
    assert_eq!(created.values["token"], json!({"$sealed": "v1:xyz"}));
    let mut same_id = config("c1", "acme", "other");
    same_id.values = json!({"url": "https://changed.example"});
    let mut same_name = config("c2", "acme", "main");
    same_name.values = json!({"url": "https://changed.example"});
    for clash in [same_id, same_name, config("c3", "nobody", "main")] {
        let outcome = store
            .config_create(ConfigPut {
                config: clash,
                cursor: None,
            })
            .await;
        assert!(
            matches!(outcome, Err(StoreError::Conflict(_))),
            "{outcome:?}"
        );
    }
    let stored = store.config_get("c1").await.unwrap().unwrap();
    assert_eq!(stored, created, "the first config is untouched");
    assert!(store.config_get("c2").await.unwrap().is_none());
    assert!(store.config_get("c3").await.unwrap().is_none());
}

async fn concurrent_creates_of_one_config_store_exactly_one(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    let attempts = (0..8).map(|index| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .config_create(ConfigPut {
                    config: config(&format!("c{index}"), "acme", "main"),
                    cursor: None,
                })
                .await
        })
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for outcome in outcomes {
        match outcome.expect("the task ran") {
            Ok(_) => created += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a clash is a conflict, not {other}"),
        }
    }
    assert_eq!(created, 1);
    let listed = store
        .config_list(ConfigFilter {
            tenant: Some("acme".into()),
            ..ConfigFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

async fn webhooks_are_set_replaced_and_go_with_their_config(store: Arc<dyn Store>) {
    store.tenant_create("acme", "Acme").await.unwrap();
    put(&store, config("c1", "acme", "main"), None).await;
    assert!(
        !store.webhook_put("nope", "aa").await.unwrap(),
        "no webhook for a config that does not exist"
    );
    assert_eq!(store.webhook_get("nope").await.unwrap(), None);
    assert_eq!(store.webhook_get("c1").await.unwrap(), None);
    assert!(store.webhook_put("c1", "aa").await.unwrap());
    assert_eq!(
        store.webhook_get("c1").await.unwrap().as_deref(),
        Some("aa")
    );
    assert!(
        store.webhook_put("c1", "bb").await.unwrap(),
        "a new secret replaces the old"
    );
    assert_eq!(
        store.webhook_get("c1").await.unwrap().as_deref(),
        Some("bb")
    );
    // Replacing the config's values keeps its webhook.
    let mut changed = config("c1", "acme", "main");
    changed.enabled = false;
    put(&store, changed, None).await;
    assert_eq!(
        store.webhook_get("c1").await.unwrap().as_deref(),
        Some("bb")
    );
    assert!(store.webhook_delete("c1").await.unwrap());
    assert!(!store.webhook_delete("c1").await.unwrap());
    assert_eq!(store.webhook_get("c1").await.unwrap(), None);
    assert!(store.webhook_put("c1", "cc").await.unwrap());
    assert!(store.config_delete("c1").await.unwrap());
    assert_eq!(
        store.webhook_get("c1").await.unwrap(),
        None,
        "a deleted config's webhook goes with it"
    );
}
