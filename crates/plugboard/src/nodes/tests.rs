use crate::store::{Node, Timestamp};

use super::NodeStatus;

fn node(seen_ago_ms: i64, stopped: bool) -> Node {
    Node {
        id: "box-1-2-abcd".to_owned(),
        hostname: "box".to_owned(),
        pid: 2,
        version: "0.1.0".to_owned(),
        listen: "127.0.0.1:7700".to_owned(),
        queues: Vec::new(),
        plugins: Vec::new(),
        heartbeat_ms: 1000,
        started_at: Timestamp(0),
        last_seen_at: Timestamp(0),
        stopped_at: stopped.then_some(Timestamp(0)),
        seen_ago_ms,
    }
}

#[test]
fn a_node_is_gone_after_three_missed_heartbeats() {
    assert_eq!(NodeStatus::of(&node(0, false)), NodeStatus::Up);
    assert_eq!(NodeStatus::of(&node(3000, false)), NodeStatus::Up);
    assert_eq!(NodeStatus::of(&node(3001, false)), NodeStatus::Gone);
    assert_eq!(NodeStatus::of(&node(3001, true)), NodeStatus::Stopped);
    assert_eq!(NodeStatus::of(&node(0, true)), NodeStatus::Stopped);
}
