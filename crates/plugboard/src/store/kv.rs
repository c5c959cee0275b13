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

/// A page of a plugin's values to list: see `Store::kv_list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuery<'a> {
    /// Only keys that start with this.
    pub prefix: &'a str,
    /// Only keys after this one.
    pub after: Option<&'a str>,
    /// At most this many values.
    pub limit: usize,
    /// No more values once those before reach this many bytes.
    pub max_bytes: usize,
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

/// How current a plugin's cached metadata is. (No row at all is "missing".)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataState {
    /// From a handshake with the package of `checksum`.
    Fresh,
    /// From an older package; the new one has not answered yet.
    Stale,
    /// The last handshake failed; `error` says why.
    Error,
}

impl MetadataState {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataState::Fresh => "fresh",
            MetadataState::Stale => "stale",
            MetadataState::Error => "error",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Result<MetadataState, String> {
        match text {
            "fresh" => Ok(MetadataState::Fresh),
            "stale" => Ok(MetadataState::Stale),
            "error" => Ok(MetadataState::Error),
            other => Err(format!("unknown metadata state `{other}`")),
        }
    }
}

/// A plugin's cached metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PluginMetadataRecord {
    pub plugin: String,
    pub version: String,
    /// sha256 of the package the metadata came from.
    pub checksum: String,
    pub state: MetadataState,
    /// What the plugin declared (kept when the state turns stale or error).
    pub metadata: Option<Value>,
    pub error: Option<String>,
    pub updated_at: super::Timestamp,
}
