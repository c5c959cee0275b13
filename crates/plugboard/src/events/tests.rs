//! Tests of event intake and fan-out on both stores.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::store::{ConfigFilter, JobFilter};
use crate::tenants::{ConfigRequest, SecretKey, Tenants};

crate::store::testing::for_each_store!(
    an_event_reaches_each_subscribed_config_once_even_posted_twice,
    an_event_recorded_by_a_node_that_died_is_delivered_once,
    events_for_unknown_tenants_or_bad_types_store_nothing,
);

#[test]
fn patterns_match_by_prefix_before_a_star_or_exactly() {
    assert!(pattern_matches("form.*", "form.submitted"));
    assert!(pattern_matches("*", "anything"));
    assert!(pattern_matches("form.submitted", "form.submitted"));
    assert!(!pattern_matches("form.*", "forms.submitted"));
    assert!(!pattern_matches("form.submitted", "form.submitted.late"));
}

/// A tenant `acme` with `count` configs subscribed to `form.*` and one to `order.*`.
async fn fifty_configs(store: &Arc<dyn Store>, count: usize) {
    store
        .plugin_metadata_put(crate::store::PluginMetadataRecord {
            plugin: "forms".into(),
            version: "1.0.0".into(),
            checksum: "abc".into(),
            state: crate::store::MetadataState::Fresh,
            metadata: Some(json!({})),
            error: None,
            updated_at: Timestamp(0),
        })
        .await
        .unwrap();
    let tenants = Tenants::new(store.clone(), SecretKey::from_bytes(&[1; 32]));
    tenants.create_tenant("acme", None).await.unwrap();
    tenants.create_tenant("beta", None).await.unwrap();
    for index in 0..=count {
        tenants
            .set_config(ConfigRequest {
                tenant: if index == count { "beta" } else { "acme" }.into(),
                plugin: "forms".into(),
                name: format!("c{index}"),
                values: Some(json!({"n": index})),
                events: Some(vec![if index % 2 == 0 {
                    "form.*"
                } else {
                    "form.submitted"
                }
                .into()]),
                ..ConfigRequest::default()
            })
            .await
            .unwrap();
    }
    tenants
        .set_config(ConfigRequest {
            tenant: "acme".into(),
            plugin: "forms".into(),
            name: "orders".into(),
            events: Some(vec!["order.*".into()]),
            ..ConfigRequest::default()
        })
        .await
        .unwrap();
}

fn submitted(key: Option<&str>) -> PostEvent {
    PostEvent {
        tenant: "acme".into(),
        event_type: "form.submitted".into(),
        payload: json!({"email": "a@example.com"}),
        idempotency_key: key.map(str::to_owned),
        source: Some("test".into()),
    }
}

async fn jobs_of(store: &Arc<dyn Store>) -> Vec<crate::store::Job> {
    store
        .job_list(JobFilter {
            limit: 10_000,
            ..JobFilter::default()
        })
        .await
        .unwrap()
}

async fn an_event_reaches_each_subscribed_config_once_even_posted_twice(store: Arc<dyn Store>) {
    fifty_configs(&store, 50).await;
    let events = Events::new(store.clone());
    let first = events.post(submitted(Some("form-1"))).await.unwrap();
    assert_eq!((first.created, first.jobs), (true, 50));
    let again = events.post(submitted(Some("form-1"))).await.unwrap();
    assert_eq!(
        (again.event_id, again.created, again.jobs),
        (first.event_id, false, 0)
    );
    let jobs = jobs_of(&store).await;
    assert_eq!(jobs.len(), 50);
    let mut configs: Vec<_> = jobs.iter().filter_map(|job| job.config.clone()).collect();
    configs.sort();
    configs.dedup();
    assert_eq!(configs.len(), 50, "one job per config");
    let job = &jobs[0];
    assert_eq!(job.tenant.as_deref(), Some("acme"));
    assert_eq!(job.payload["trigger"]["kind"], json!("event"));
    assert_eq!(
        job.payload["trigger"]["event"]["type"],
        json!("form.submitted")
    );
    assert_eq!(
        job.payload["trigger"]["event"]["payload"]["email"],
        json!("a@example.com")
    );
    assert_eq!(
        job.payload["trigger"]["event"]["id"],
        json!(first.event_id.to_string())
    );
    let stored = store.event_get(first.event_id).await.unwrap().unwrap();
    assert_eq!(stored.deliveries, Some(50));
    // Without a key, a second post is a second event.
    let other = events.post(submitted(None)).await.unwrap();
    assert_eq!((other.created, other.jobs), (true, 50));
}

async fn an_event_recorded_by_a_node_that_died_is_delivered_once(store: Arc<dyn Store>) {
    fifty_configs(&store, 50).await;
    // The node recorded the event (and acknowledged it) and died before its fan-out.
    let recorded = store
        .event_record(crate::store::NewEvent {
            tenant: "acme".into(),
            event_type: "form.submitted".into(),
            payload: json!({}),
            idempotency_key: Some("k".into()),
            source: None,
        })
        .await
        .unwrap();
    // It even got half-way.
    let event = store.event_get(recorded.id).await.unwrap().unwrap();
    let subscribed = store.config_subscribed("acme").await.unwrap();
    let half: Vec<NewJob> = subscribed
        .iter()
        .filter(|config| {
            config
                .events
                .iter()
                .any(|p| pattern_matches(p, "form.submitted"))
        })
        .take(20)
        .map(|config| delivery_job(config, &event))
        .collect();
    store.job_enqueue_many(half).await.unwrap();
    let events = Events::new(store.clone());
    assert_eq!(events.deliver_pending(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(jobs_of(&store).await.len(), 50);
    assert_eq!(events.deliver_pending(Duration::ZERO).await.unwrap(), 0);
    let repeat = events.post(submitted(Some("k"))).await.unwrap();
    assert_eq!((repeat.created, repeat.jobs), (false, 0));
    assert_eq!(jobs_of(&store).await.len(), 50);
}

async fn events_for_unknown_tenants_or_bad_types_store_nothing(store: Arc<dyn Store>) {
    let events = Events::new(store.clone());
    let unknown = events
        .post(PostEvent {
            tenant: "nobody".into(),
            ..submitted(None)
        })
        .await
        .expect_err("unknown tenant")
        .to_string();
    assert!(
        unknown.contains("tenant `nobody` does not exist"),
        "{unknown}"
    );
    store.tenant_create("acme", "Acme").await.unwrap();
    let bad_type = events
        .post(PostEvent {
            event_type: "has spaces".into(),
            ..submitted(None)
        })
        .await;
    assert!(matches!(bad_type, Err(EventError::InvalidType(_))));
    assert!(store
        .event_list(crate::store::EventFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .config_list(ConfigFilter::default())
        .await
        .unwrap()
        .is_empty());
}
