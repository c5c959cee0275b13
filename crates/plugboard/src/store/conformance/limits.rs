//! Conformance of fair claims and job limits, on both stores.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::store::limits::EVERY;
use crate::store::{
    ClaimParams, FinishOutcome, Job, JobFinish, JobLimit, LimitScope, NewJob, Store,
};

crate::store::testing::for_each_store!(
    claims_take_turns_between_tenants,
    a_flooding_tenant_does_not_hold_back_another,
    a_tenant_limit_holds_across_concurrent_claimers,
    the_default_tenant_limit_and_a_plugin_limit_apply,
    a_rate_limit_spends_its_bucket,
    limits_are_listed_replaced_and_deleted_with_their_usage,
);

fn job(tenant: Option<&str>, plugin: Option<&str>) -> NewJob {
    let mut job = NewJob::new("noop", json!({}));
    job.tenant = tenant.map(str::to_owned);
    job.plugin = plugin.map(str::to_owned);
    job
}

fn claim(owner: &str, limit: usize) -> ClaimParams {
    ClaimParams {
        queue: "default".to_owned(),
        owner: owner.to_owned(),
        limit,
        lease: Duration::from_secs(30),
    }
}

fn limit(scope: LimitScope, name: &str, max_running: Option<u32>, rate: Option<f64>) -> JobLimit {
    JobLimit {
        scope,
        name: name.to_owned(),
        max_running,
        rate_per_second: rate,
        burst: None,
    }
}

fn tenants(jobs: &[Job]) -> Vec<String> {
    jobs.iter()
        .map(|job| job.tenant.clone().unwrap_or_default())
        .collect()
}

async fn enqueue(store: &Arc<dyn Store>, jobs: Vec<NewJob>) {
    store.job_enqueue_many(jobs).await.expect("jobs enqueued");
}

async fn succeed(store: &Arc<dyn Store>, job: &Job) {
    let applied = store
        .job_finish_many(vec![JobFinish {
            id: job.id,
            owner: job.lease_owner.clone().unwrap_or_default(),
            attempt: job.attempt,
            outcome: FinishOutcome::Succeeded { result: None },
        }])
        .await
        .unwrap();
    assert_eq!(applied, vec![job.id]);
}

async fn claims_take_turns_between_tenants(store: Arc<dyn Store>) {
    let mut jobs: Vec<NewJob> = (0..10).map(|_| job(Some("a"), None)).collect();
    jobs.extend((0..3).map(|_| job(Some("b"), None)));
    jobs.extend((0..3).map(|_| job(None, None)));
    enqueue(&store, jobs).await;
    let mut order = Vec::new();
    for _ in 0..9 {
        let claimed = store.job_claim(claim("w", 1)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        order.extend(tenants(&claimed));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for tenant in &order {
        *counts.entry(tenant.as_str()).or_default() += 1;
    }
    assert_eq!(
        counts,
        HashMap::from([("a", 3), ("b", 3), ("", 3)]),
        "one-job claims go round the three groups: {order:?}"
    );
    // Once b and the untenanted jobs are gone, a gets every claim.
    let rest = store.job_claim(claim("w", 10)).await.unwrap();
    assert_eq!(tenants(&rest), vec!["a"; 7]);
    // Within a tenant the usual order holds.
    let ids: Vec<i64> = rest.iter().map(|job| job.id.0).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
}

async fn a_flooding_tenant_does_not_hold_back_another(store: Arc<dyn Store>) {
    enqueue(
        &store,
        (0..2_000).map(|_| job(Some("flood"), None)).collect(),
    )
    .await;
    enqueue(&store, (0..10).map(|_| job(Some("small"), None)).collect()).await;
    // Four workers' worth of claims, as slots free up one by one.
    let mut small_started = 0;
    let mut claims = 0;
    while small_started < 10 {
        let claimed = store.job_claim(claim("w", 1)).await.unwrap();
        claims += 1;
        small_started += tenants(&claimed).iter().filter(|t| *t == "small").count();
        assert!(
            claims <= 20,
            "the small tenant's 10 jobs need at most 20 claims"
        );
    }
    // A claim of many takes from both.
    enqueue(&store, (0..10).map(|_| job(Some("small"), None)).collect()).await;
    let claimed = store.job_claim(claim("w", 20)).await.unwrap();
    let small = tenants(&claimed).iter().filter(|t| *t == "small").count();
    assert_eq!((claimed.len(), small), (20, 10));
}

async fn a_tenant_limit_holds_across_concurrent_claimers(store: Arc<dyn Store>) {
    store
        .limit_put(limit(LimitScope::Tenant, "a", Some(2), None))
        .await
        .unwrap();
    let mut jobs: Vec<NewJob> = (0..30).map(|_| job(Some("a"), None)).collect();
    jobs.extend((0..6).map(|_| job(Some("b"), None)));
    enqueue(&store, jobs).await;
    let claims = (0..8).map(|worker| {
        let store = store.clone();
        tokio::spawn(async move { store.job_claim(claim(&format!("w{worker}"), 5)).await })
    });
    let mut running: Vec<Job> = Vec::new();
    for claim in claims {
        running.extend(claim.await.unwrap().unwrap());
    }
    let of = |jobs: &[Job], tenant: &str| {
        jobs.iter()
            .filter(|job| job.tenant.as_deref() == Some(tenant))
            .count()
    };
    assert_eq!(
        of(&running, "a"),
        2,
        "tenant a is limited to 2 running jobs"
    );
    assert_eq!(of(&running, "b"), 6, "tenant b has no limit");
    assert!(store.job_claim(claim("late", 5)).await.unwrap().is_empty());
    // One of a's jobs finishes: exactly one more may start.
    let done = running
        .iter()
        .find(|job| job.tenant.as_deref() == Some("a"))
        .unwrap()
        .clone();
    succeed(&store, &done).await;
    let next = store.job_claim(claim("late", 5)).await.unwrap();
    assert_eq!(tenants(&next), vec!["a"]);
}

async fn the_default_tenant_limit_and_a_plugin_limit_apply(store: Arc<dyn Store>) {
    store
        .limit_put(limit(LimitScope::Tenant, EVERY, Some(1), None))
        .await
        .unwrap();
    store
        .limit_put(limit(LimitScope::Tenant, "big", Some(3), None))
        .await
        .unwrap();
    store
        .limit_put(limit(LimitScope::Plugin, "slow", Some(1), None))
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for tenant in ["a", "b", "big"] {
        jobs.extend((0..4).map(|_| job(Some(tenant), Some("fast"))));
    }
    jobs.extend((0..3).map(|_| job(None, Some("fast"))));
    jobs.extend((0..3).map(|_| job(Some("c"), Some("slow"))));
    jobs.extend((0..3).map(|_| job(None, Some("slow"))));
    enqueue(&store, jobs).await;
    let claimed = store.job_claim(claim("w", 100)).await.unwrap();
    let mut per_tenant: HashMap<String, usize> = HashMap::new();
    let mut slow = 0;
    for job in &claimed {
        *per_tenant
            .entry(job.tenant.clone().unwrap_or_default())
            .or_default() += 1;
        slow += usize::from(job.plugin.as_deref() == Some("slow"));
    }
    assert_eq!(
        per_tenant.get("a"),
        Some(&1),
        "the default limit: {per_tenant:?}"
    );
    assert_eq!(per_tenant.get("b"), Some(&1));
    assert_eq!(per_tenant.get("big"), Some(&3), "a tenant's own limit wins");
    assert_eq!(slow, 1, "plugin slow runs once at a time, for any tenant");
    // Jobs without a tenant have no tenant limit: the 3 fast ones and at most the 1 slow one.
    assert!(per_tenant.get("").copied().unwrap_or(0) >= 3);
}

async fn a_rate_limit_spends_its_bucket(store: Arc<dyn Store>) {
    let started = Instant::now();
    store
        .limit_put(JobLimit {
            burst: Some(3),
            ..limit(LimitScope::Tenant, "a", None, Some(0.5))
        })
        .await
        .unwrap();
    enqueue(&store, (0..10).map(|_| job(Some("a"), None)).collect()).await;
    let first = store.job_claim(claim("w", 10)).await.unwrap();
    let second = store.job_claim(claim("w", 10)).await.unwrap();
    // The bucket holds 3 and refills one start every 2 seconds.
    let refilled = (started.elapsed().as_secs_f64() * 0.5).floor() as usize;
    assert_eq!(first.len(), 3);
    assert!(
        second.len() <= refilled,
        "{} more started after {:?}",
        second.len(),
        started.elapsed()
    );
    let usage = store.limit_usage(Some("a"), None).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert!(usage[0]
        .tokens
        .is_some_and(|tokens| tokens < 1.0 + refilled as f64));
}

async fn limits_are_listed_replaced_and_deleted_with_their_usage(store: Arc<dyn Store>) {
    store
        .limit_put(limit(LimitScope::Tenant, "a", Some(2), None))
        .await
        .unwrap();
    store
        .limit_put(limit(LimitScope::Tenant, "a", Some(5), Some(10.0)))
        .await
        .unwrap();
    store
        .limit_put(limit(LimitScope::Plugin, "p", Some(1), None))
        .await
        .unwrap();
    let listed = store.limit_list().await.unwrap();
    assert_eq!(
        listed,
        vec![
            limit(LimitScope::Plugin, "p", Some(1), None),
            limit(LimitScope::Tenant, "a", Some(5), Some(10.0)),
        ]
    );
    enqueue(&store, vec![job(Some("a"), Some("p"))]).await;
    store.job_claim(claim("w", 1)).await.unwrap();
    let usage = store.limit_usage(Some("a"), Some("p")).await.unwrap();
    let summary: Vec<(LimitScope, String, u64)> = usage
        .iter()
        .map(|usage| (usage.limit.scope, usage.applies_to.clone(), usage.running))
        .collect();
    assert_eq!(
        summary,
        vec![
            (LimitScope::Tenant, "a".to_owned(), 1),
            (LimitScope::Plugin, "p".to_owned(), 1),
        ]
    );
    assert!(store
        .limit_usage(Some("other"), None)
        .await
        .unwrap()
        .is_empty());
    assert!(store.limit_delete(LimitScope::Tenant, "a").await.unwrap());
    assert!(!store.limit_delete(LimitScope::Tenant, "a").await.unwrap());
    assert_eq!(store.limit_list().await.unwrap().len(), 1);
}
