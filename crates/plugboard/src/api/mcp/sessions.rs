//! Sessions of the legacy era (2025-11-25 and before): `initialize` opens one, named by
//! `Mcp-Session-Id` on every later request, ended by `DELETE` or after an hour unused.
//!
//! A session belongs to the token that opened it: another token naming it gets `404`, as for a
//! session that does not exist. Sessions live in this node's memory (a restarted node answers
//! `404` and the client initializes again, as the transport says).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::store::JobId;

/// A session unused this long is forgotten.
const IDLE: Duration = Duration::from_secs(3600);
/// At most this many sessions per node; opening one more forgets the least recently used.
const MAX_SESSIONS: usize = 10_000;

/// One legacy session.
pub struct Session {
    pub id: String,
    /// The caller's label (`admin` or the token id) that opened it.
    owner: String,
    last_used: Mutex<Instant>,
    /// Plugin tool calls in flight, by the JSON text of their request id: what
    /// `notifications/cancelled` names.
    calls: Mutex<HashMap<String, JobId>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Session {
    /// Notes a plugin tool call in flight under its request id.
    pub fn call_started(&self, request_id: &Value, job: JobId) {
        lock(&self.calls).insert(request_id.to_string(), job);
    }

    /// Forgets a call that ended.
    pub fn call_ended(&self, request_id: &Value) {
        lock(&self.calls).remove(&request_id.to_string());
    }

    /// The job of the call in flight under `request_id`.
    pub fn call_of(&self, request_id: &Value) -> Option<JobId> {
        lock(&self.calls).get(&request_id.to_string()).copied()
    }
}

/// This node's legacy sessions.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// Opens a session for `owner`.
    pub fn open(&self, owner: &str) -> Arc<Session> {
        let session = Arc::new(Session {
            id: super::super::auth::mint_secret("mcp-"),
            owner: owner.to_owned(),
            last_used: Mutex::new(Instant::now()),
            calls: Mutex::new(HashMap::new()),
        });
        let mut sessions = lock(&self.by_id);
        sessions.retain(|_, session| lock(&session.last_used).elapsed() < IDLE);
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, session)| *lock(&session.last_used))
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(session.id.clone(), session.clone());
        session
    }

    /// The session `id` of `owner`, marked used; `None` when it does not exist, is another
    /// token's, or was unused too long.
    pub fn get(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        let mut sessions = lock(&self.by_id);
        let session = sessions.get(id)?.clone();
        if session.owner != owner {
            return None;
        }
        let mut last_used = lock(&session.last_used);
        if last_used.elapsed() >= IDLE {
            drop(last_used);
            sessions.remove(id);
            return None;
        }
        *last_used = Instant::now();
        drop(last_used);
        Some(session)
    }

    /// Ends the session `id` of `owner`; false when there was none.
    pub fn close(&self, id: &str, owner: &str) -> bool {
        let mut sessions = lock(&self.by_id);
        match sessions.get(id) {
            Some(session) if session.owner == owner => {
                sessions.remove(id);
                true
            }
            _ => false,
        }
    }

    /// True while the session exists (a stream ends when its session does).
    pub fn is_open(&self, id: &str) -> bool {
        lock(&self.by_id).contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_its_owners_only_and_ends_once() {
        let sessions = Sessions::default();
        let session = sessions.open("tok_a");
        assert!(sessions.get(&session.id, "tok_a").is_some());
        assert!(sessions.get(&session.id, "tok_b").is_none());
        assert!(!sessions.close(&session.id, "tok_b"));
        assert!(sessions.close(&session.id, "tok_a"));
        assert!(sessions.get(&session.id, "tok_a").is_none());
        assert!(!sessions.close(&session.id, "tok_a"));
    }

    #[test]
    fn calls_are_found_by_their_request_id() {
        let sessions = Sessions::default();
        let session = sessions.open("admin");
        session.call_started(&serde_json::json!(7), JobId(42));
        assert_eq!(session.call_of(&serde_json::json!(7)), Some(JobId(42)));
        assert_eq!(session.call_of(&serde_json::json!("7")), None);
        session.call_ended(&serde_json::json!(7));
        assert_eq!(session.call_of(&serde_json::json!(7)), None);
    }
}
