//! Conformance of the node registry and of job counts by kind, on both stores.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::store::{JobStatus, NewJob, NewNode, NodeQueue, Store};

crate::store::testing::for_each_store!(
    nodes_register_heartbeat_stop_and_list,
    nodes_not_seen_for_long_are_pruned,
    jobs_are_counted_by_kind_and_status,
);

fn node(id: &str) -> NewNode {
    NewNode {
        id: id.to_owned(),
        hostname: "box-1".to_owned(),
        pid: 4242,
        version: "0.1.0".to_owned(),
        listen: "127.0.0.1:7700".to_owned(),
        queues: vec![
            NodeQueue {
                name: "default".to_owned(),
                concurrency: 10,
            },
            NodeQueue {
                name: "mail".to_owned(),
                concurrency: 2,
            },
        ],
        plugins: vec!["hello".to_owned()],
        heartbeat_ms: 5000,
    }
}

async fn nodes_register_heartbeat_stop_and_list(store: Arc<dyn Store>) {
    let first = store.node_register(node("box-1-4242-aaaa")).await.unwrap();
    assert_eq!(first.id, "box-1-4242-aaaa");
    assert_eq!(first.queues.len(), 2);
    assert_eq!(first.queues[1].concurrency, 2);
    assert_eq!(first.plugins, ["hello"]);
    assert_eq!(first.heartbeat_ms, 5000);
    assert_eq!(first.stopped_at, None);
    assert!(first.seen_ago_ms >= 0);
    assert_eq!(first.started_at, first.last_seen_at);

    // Started later: listed first.
    let started = first.started_at;
    while crate::store::Timestamp::now() <= started {
        tokio::task::yield_now().await;
    }
    store.node_register(node("box-2-1-bbbb")).await.unwrap();
    let ids: Vec<String> = store
        .node_list()
        .await
        .unwrap()
        .into_iter()
        .map(|node| node.id)
        .collect();
    assert_eq!(ids, ["box-2-1-bbbb", "box-1-4242-aaaa"]);

    let seen = store
        .node_get("box-1-4242-aaaa")
        .await
        .unwrap()
        .unwrap()
        .last_seen_at;
    while crate::store::Timestamp::now() <= seen {
        tokio::task::yield_now().await;
    }
    assert!(store
        .node_heartbeat("box-1-4242-aaaa", vec!["hello".into(), "uptime".into()])
        .await
        .unwrap());
    let beaten = store.node_get("box-1-4242-aaaa").await.unwrap().unwrap();
    assert!(beaten.last_seen_at > seen);
    assert_eq!(beaten.started_at, first.started_at);
    assert_eq!(beaten.plugins, ["hello", "uptime"]);
    assert!(!store.node_heartbeat("missing", vec![]).await.unwrap());

    assert!(store.node_stop("box-1-4242-aaaa").await.unwrap());
    let stopped = store.node_get("box-1-4242-aaaa").await.unwrap().unwrap();
    assert!(stopped.stopped_at.is_some());
    assert!(!store.node_stop("missing").await.unwrap());
    assert_eq!(store.node_get("missing").await.unwrap(), None);

    // Registering again (the same id) starts afresh.
    let again = store.node_register(node("box-1-4242-aaaa")).await.unwrap();
    assert_eq!(again.stopped_at, None);
    assert_eq!(store.node_list().await.unwrap().len(), 2);
}

async fn nodes_not_seen_for_long_are_pruned(store: Arc<dyn Store>) {
    store.node_register(node("old")).await.unwrap();
    // Wait on the store's clock until "old" has not been seen for over a second.
    loop {
        let old = store.node_get("old").await.unwrap().unwrap();
        if old.seen_ago_ms > 1100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store.node_prune(Duration::from_secs(3600)).await.unwrap(),
        0
    );
    store.node_register(node("fresh")).await.unwrap();
    assert_eq!(store.node_prune(Duration::from_secs(1)).await.unwrap(), 1);
    let ids: Vec<String> = store
        .node_list()
        .await
        .unwrap()
        .into_iter()
        .map(|node| node.id)
        .collect();
    assert_eq!(ids, ["fresh"]);
}

async fn jobs_are_counted_by_kind_and_status(store: Arc<dyn Store>) {
    for kind in ["noop", "noop", "plugin.run"] {
        store
            .job_enqueue(NewJob::new(kind, json!({})))
            .await
            .unwrap();
    }
    let counts: Vec<(String, JobStatus, i64)> = store
        .job_counts_by_kind()
        .await
        .unwrap()
        .into_iter()
        .map(|count| (count.kind, count.status, count.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("noop".to_owned(), JobStatus::Queued, 2),
            ("plugin.run".to_owned(), JobStatus::Queued, 1)
        ]
    );
}
