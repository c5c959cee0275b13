//! Types of the plugin key-value store and of events.

use serde_json::Value;

/// Whose values: one plugin's, for one tenant (or for no tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvScope {
    pub plugin: String,
    pub tenant: Option<String>,
}

impl KvScope {
    /// The tenant as stored: `""` for none.
    pub fn tenant_key(&self) -> &str {
        self.tenant.as_deref().unwrap_or("")
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub tenant: String,
    pub event_type: String,
    pub payload: Value,
    /// A second event of the tenant with this key is the same event.
    pub idempotency_key: Option<String>,
    /// Who raised it (`plugin:<id>`, `api`).
    pub source: Option<String>,
}

/// The answer to recording an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecorded {
    pub id: i64,
    /// False when the idempotency key named an existing event; `id` is then that event's.
    pub created: bool,
}
