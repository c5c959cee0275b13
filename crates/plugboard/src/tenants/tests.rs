//! Tests of tenants and configs on both stores: schema checks with every failing path, secrets,
//! schedules refused before anything is stored, invalid configs, manual runs.

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::store::{JobFilter, MetadataState, PluginMetadataRecord};

crate::store::testing::for_each_store!(
    values_that_break_the_schema_are_refused_with_every_path,
    secrets_are_sealed_at_rest_hidden_from_reads_and_kept,
    bad_schedules_and_unknown_tenants_store_nothing,
    a_new_schema_that_rejects_a_config_marks_it_invalid,
    run_now_enqueues_a_manual_run,
    show_lists_the_next_fires,
);

fn uptime_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "token": {"type": "string", "writeOnly": true},
            "auth": {"type": "object", "properties": {"password": {"type": "string", "format": "password"}}}
        },
        "additionalProperties": false
    })
}

async fn setup(store: &Arc<dyn Store>, schema: Value) -> Tenants {
    store
        .plugin_metadata_put(PluginMetadataRecord {
            plugin: "uptime".into(),
            version: "1.0.0".into(),
            checksum: "abc".into(),
            state: MetadataState::Fresh,
            metadata: Some(json!({"configSchema": schema})),
            error: None,
            updated_at: Timestamp(0),
        })
        .await
        .unwrap();
    let tenants = Tenants::new(store.clone(), SecretKey::from_bytes(&[7; 32]));
    tenants.create_tenant("acme", Some("Acme")).await.unwrap();
    tenants
}

fn request(values: Value) -> ConfigRequest {
    ConfigRequest {
        tenant: "acme".into(),
        plugin: "uptime".into(),
        name: "main".into(),
        values: Some(values),
        ..ConfigRequest::default()
    }
}

async fn values_that_break_the_schema_are_refused_with_every_path(store: Arc<dyn Store>) {
    let tenants = setup(&store, uptime_schema()).await;
    let error = tenants
        .set_config(request(
            json!({"url": "ftp://x", "port": 70000, "extra": 1}),
        ))
        .await
        .expect_err("the schema refuses these values")
        .to_string();
    for expected in ["/url:", "/port:", "70000", "extra"] {
        assert!(
            error.contains(expected),
            "`{expected}` missing from: {error}"
        );
    }
    let missing = tenants
        .set_config(request(json!({})))
        .await
        .expect_err("url is required")
        .to_string();
    assert!(
        missing.contains("/: ") && missing.contains("url"),
        "{missing}"
    );
    assert!(
        store
            .config_list(ConfigFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
    let unknown_plugin = tenants
        .set_config(ConfigRequest {
            plugin: "nobody".into(),
            ..request(json!({}))
        })
        .await
        .expect_err("no such plugin");
    assert!(
        matches!(unknown_plugin, TenantError::UnknownPlugin(_)),
        "{unknown_plugin}"
    );
    assert!(unknown_plugin
        .to_string()
        .starts_with("no plugin `nobody` is installed"));
    tenants
        .set_config(request(json!({"url": "https://example.com", "port": 443})))
        .await
        .expect("valid values are stored");
}

async fn secrets_are_sealed_at_rest_hidden_from_reads_and_kept(store: Arc<dyn Store>) {
    let tenants = setup(&store, uptime_schema()).await;
    let view = tenants
        .set_config(request(json!({
            "url": "https://example.com",
            "token": "s3cret-token",
            "auth": {"password": "hunter2"}
        })))
        .await
        .unwrap();
    assert_eq!(view.config.values["token"], json!(secrets::REDACTED));
    assert_eq!(
        view.config.values["auth"]["password"],
        json!(secrets::REDACTED)
    );
    let stored = store.config_get(&view.config.id).await.unwrap().unwrap();
    let at_rest = stored.values.to_string();
    assert!(
        !at_rest.contains("s3cret-token") && !at_rest.contains("hunter2"),
        "{at_rest}"
    );
    assert_eq!(
        tenants.open_values(&stored).unwrap(),
        json!({"url": "https://example.com", "token": "s3cret-token", "auth": {"password": "hunter2"}})
    );
    // Written back as read (redacted), or without the secret: the secret stays.
    tenants
        .set_config(request(
            json!({"url": "https://other.example", "token": secrets::REDACTED, "auth": {}}),
        ))
        .await
        .unwrap();
    let stored = store.config_get(&view.config.id).await.unwrap().unwrap();
    assert_eq!(
        tenants.open_values(&stored).unwrap(),
        json!({"url": "https://other.example", "token": "s3cret-token", "auth": {"password": "hunter2"}})
    );
    let other_key = Tenants::new(store.clone(), SecretKey::from_bytes(&[8; 32]));
    assert!(matches!(
        other_key.open_values(&stored),
        Err(TenantError::Secret(_))
    ));
}

async fn bad_schedules_and_unknown_tenants_store_nothing(store: Arc<dyn Store>) {
    let tenants = setup(&store, json!({"type": "object"})).await;
    let cron = tenants
        .set_config(ConfigRequest {
            schedule: Some(Some(
                ScheduleSpec::parse(r#"{"cron": "0 99 * * * *"}"#).unwrap(),
            )),
            ..request(json!({}))
        })
        .await
        .expect_err("minute 99")
        .to_string();
    assert!(cron.contains("minute field `99`"), "{cron}");
    let zone = tenants
        .set_config(ConfigRequest {
            schedule: Some(Some(
                ScheduleSpec::parse(r#"{"cron": "* * * * *", "timezone": "Europe/Atlantis"}"#)
                    .unwrap(),
            )),
            ..request(json!({}))
        })
        .await
        .expect_err("no such zone")
        .to_string();
    assert!(
        zone.contains("unknown time zone `Europe/Atlantis`"),
        "{zone}"
    );
    let pattern = tenants
        .set_config(ConfigRequest {
            events: Some(vec!["form.*.x*".into(), "".into()]),
            ..request(json!({}))
        })
        .await
        .expect_err("bad pattern");
    assert!(matches!(pattern, TenantError::EventPattern { .. }));
    let tenant = tenants
        .set_config(ConfigRequest {
            tenant: "nobody".into(),
            ..request(json!({}))
        })
        .await
        .expect_err("unknown tenant")
        .to_string();
    assert!(
        tenant.contains("tenant `nobody` does not exist"),
        "{tenant}"
    );
    assert!(store
        .config_list(ConfigFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        tenants.create_tenant("acme", None).await,
        Err(TenantError::TenantExists(_))
    ));
    assert!(matches!(
        tenants.create_tenant("no spaces", None).await,
        Err(TenantError::InvalidName { .. })
    ));
}

async fn a_new_schema_that_rejects_a_config_marks_it_invalid(store: Arc<dyn Store>) {
    let tenants = setup(&store, json!({"type": "object"})).await;
    let view = tenants
        .set_config(ConfigRequest {
            schedule: Some(Some(
                ScheduleSpec::parse(r#"{"interval_seconds": 1}"#).unwrap(),
            )),
            ..request(json!({"url": "https://example.com"}))
        })
        .await
        .unwrap();
    // Version 2 requires a field the config lacks.
    setup_schema(&store, json!({"type": "object", "required": ["region"]})).await;
    assert_eq!(tenants.revalidate_plugin("uptime").await.unwrap(), 1);
    let config = store.config_get(&view.config.id).await.unwrap().unwrap();
    let reason = config.invalid_reason.clone().expect("marked invalid");
    assert!(reason.contains("region"), "{reason}");
    let far = Timestamp(Timestamp::now().0 + 3_600_000_000);
    assert!(
        store.config_due(far, 10).await.unwrap().is_empty(),
        "an invalid config does not fire"
    );
    assert!(matches!(
        tenants.run_now(&config.id).await,
        Err(TenantError::ConfigInvalid { .. })
    ));
    // Fixing the values clears the mark.
    let fixed = tenants
        .set_config(request(
            json!({"url": "https://example.com", "region": "eu"}),
        ))
        .await
        .unwrap();
    assert_eq!(fixed.config.invalid_reason, None);
    assert_eq!(tenants.revalidate_plugin("uptime").await.unwrap(), 0);
}

async fn setup_schema(store: &Arc<dyn Store>, schema: Value) {
    store
        .plugin_metadata_put(PluginMetadataRecord {
            plugin: "uptime".into(),
            version: "2.0.0".into(),
            checksum: "def".into(),
            state: MetadataState::Fresh,
            metadata: Some(json!({"configSchema": schema})),
            error: None,
            updated_at: Timestamp(0),
        })
        .await
        .unwrap();
}

async fn run_now_enqueues_a_manual_run(store: Arc<dyn Store>) {
    let tenants = setup(&store, json!({"type": "object"})).await;
    let view = tenants.set_config(request(json!({"n": 1}))).await.unwrap();
    let enqueued = tenants.run_now(&view.config.id).await.unwrap();
    let job = store.job_get(enqueued.id).await.unwrap().unwrap();
    assert_eq!(job.kind, "plugin.run");
    assert_eq!(job.tenant.as_deref(), Some("acme"));
    assert_eq!(job.config.as_deref(), Some(view.config.id.as_str()));
    assert_eq!(job.payload["trigger"]["kind"], json!("manual"));
    assert_eq!(job.payload["config"]["name"], json!("main"));
    assert_eq!(store.job_list(JobFilter::default()).await.unwrap().len(), 1);
}

async fn show_lists_the_next_fires(store: Arc<dyn Store>) {
    let tenants = setup(&store, json!({"type": "object"})).await;
    tenants
        .set_config(ConfigRequest {
            schedule: Some(Some(
                ScheduleSpec::parse(
                    r#"{"cron": "0 0 9 * * MON-FRI", "timezone": "Europe/Berlin"}"#,
                )
                .unwrap(),
            )),
            ..request(json!({}))
        })
        .await
        .unwrap();
    let view = tenants.show_config("acme", "uptime", "main").await.unwrap();
    assert_eq!(view.next_fires.len(), PREVIEW_FIRES);
    assert!(
        view.next_fires
            .iter()
            .all(|fire| fire.contains("T07:00:00") || fire.contains("T08:00:00")),
        "{:?}",
        view.next_fires
    );
    let paused = tenants
        .set_config(ConfigRequest {
            schedule: Some(Some(
                ScheduleSpec::parse(r#"{"cron": "0 0 9 * * *", "paused": true}"#).unwrap(),
            )),
            ..request(json!({}))
        })
        .await
        .unwrap();
    assert!(paused.next_fires.is_empty());
    assert_eq!(paused.config.next_fire_at, None);
}

/// Records the payload it is given.
struct Recorder(std::sync::Mutex<Option<Value>>);

#[async_trait::async_trait]
impl crate::queue::JobHandler for Arc<Recorder> {
    async fn run(
        &self,
        context: crate::queue::JobContext,
    ) -> Result<Option<Value>, crate::queue::JobError> {
        *self.0.lock().unwrap() = Some(context.job().payload.clone());
        Ok(None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_gets_secrets_opened_while_the_job_keeps_them_sealed() {
    let test_store = crate::store::testing::TestStore::sqlite().await;
    let store = test_store.store.clone();
    let tenants = setup(&store, uptime_schema()).await;
    let view = tenants
        .set_config(request(
            json!({"url": "https://example.com", "token": "s3cret"}),
        ))
        .await
        .unwrap();
    let enqueued = tenants.run_now(&view.config.id).await.unwrap();
    let job = store.job_get(enqueued.id).await.unwrap().unwrap();
    assert!(
        !job.payload.to_string().contains("s3cret"),
        "sealed in the queue"
    );
    let recorder = Arc::new(Recorder(std::sync::Mutex::new(None)));
    let handler = run::SecretsOpened::new(recorder.clone(), SecretKey::from_bytes(&[7; 32]));
    let context = crate::queue::JobContext::new(
        job,
        "test-worker".into(),
        tokio_util::sync::CancellationToken::new(),
        tokio_util::sync::CancellationToken::new(),
        store.clone(),
    );
    crate::queue::JobHandler::run(&handler, context)
        .await
        .unwrap();
    let given = recorder
        .0
        .lock()
        .unwrap()
        .clone()
        .expect("the inner kind ran");
    assert_eq!(given["config"]["values"]["token"], json!("s3cret"));
    let wrong_key = run::SecretsOpened::new(recorder.clone(), SecretKey::from_bytes(&[9; 32]));
    let job = store.job_get(enqueued.id).await.unwrap().unwrap();
    let context = crate::queue::JobContext::new(
        job,
        "test-worker".into(),
        tokio_util::sync::CancellationToken::new(),
        tokio_util::sync::CancellationToken::new(),
        store.clone(),
    );
    let refused = crate::queue::JobHandler::run(&wrong_key, context).await;
    assert!(refused.is_err(), "another key cannot open the secret");
    test_store.finish().await;
}
