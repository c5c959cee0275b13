//! The tools agents see: the host's own (`host_tools.rs`) and every enabled plugin's, and who
//! sees which.
//!
//! Plugin tools come from the metadata the store caches for each plugin (written by whichever
//! node runs it), so every node lists the same tools whether it runs the plugin or not. A plugin
//! is in the catalogue while its registry row is `enabled`, or, for a development plugin
//! (`serve --plugin DIR`, outside the registry), while a live node reports it loaded. Its tools
//! are named `{plugin}.{tool}`: plugin ids have no dot, so the name is unambiguous, and host tools
//! (no dot) never clash with a plugin's. A tool whose full name breaks MCP's naming rule (1 to
//! 128 of `A-Z a-z 0-9 _ - .`) or whose `inputSchema` is not a JSON Schema is left out, with a
//! warning in the host's log.
//!
//! Who sees what: the admin and global tokens see every tool; a tenant token sees the host tools
//! (confined to its tenant) and the tools of plugins its tenant has a config of; a read token
//! sees only read-only tools (the host's readers, and plugin tools that say
//! `readOnlyHint: true`). The list is ordered by name and cut into pages of [`PAGE`] with opaque
//! cursors.
//!
//! The catalogue is read from the store at most once a second ([`FRESH_FOR`]); while anyone
//! listens for changes (legacy `GET` streams), a watcher reads it every second and tells them
//! when the plugin tools changed (a plugin enabled, disabled, updated, or its tools changed).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use base64::Engine;
use plugboard_protocol::metadata::{Metadata, Tool};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::host_tools;
use super::jsonrpc::Failure;
use crate::api::auth::Caller;
use crate::nodes::NodeStatus;
use crate::store::{ConfigFilter, PluginState, Store, StoreError, TokenAccess};

/// Tools per page of `tools/list`.
pub const PAGE: usize = 100;
/// How long a read of the catalogue is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How often the watcher looks for changes while someone listens.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// The longest tool name MCP allows.
const MAX_NAME: usize = 128;

/// One plugin tool as the catalogue holds it.
pub struct PluginTool {
    pub plugin: String,
    pub tool: Tool,
    /// The MCP tool definition, under its full name.
    pub definition: Value,
    /// Checks call arguments against `inputSchema`.
    pub validator: jsonschema::Validator,
    /// Checks the structured answer against `outputSchema`, when the tool has one.
    pub output_validator: Option<jsonschema::Validator>,
    /// Arguments mirrored in `Mcp-Param-{name}` headers (`x-mcp-header`): the header's name and
    /// the property path to the argument.
    pub mirrored: Vec<(String, Vec<String>)>,
}

/// The plugin tools at one moment, by full name.
pub struct Snapshot {
    pub tools: BTreeMap<String, Arc<PluginTool>>,
    /// Changes whenever a definition does: what the watcher compares.
    fingerprint: String,
}

/// A tool a caller may use: a host tool or a plugin tool.
pub enum Entry {
    Host(&'static host_tools::HostTool),
    Plugin(Arc<PluginTool>),
}

impl Entry {
    pub fn definition(&self) -> Value {
        match self {
            Entry::Host(tool) => tool.definition(),
            Entry::Plugin(tool) => tool.definition.clone(),
        }
    }
}

/// The tools, read from the store, and the listeners to their changes.
pub struct Catalogue {
    store: Arc<dyn Store>,
    cached: tokio::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
    changed: broadcast::Sender<()>,
    watching: std::sync::Once,
}

impl Catalogue {
    pub fn new(store: Arc<dyn Store>) -> Arc<Catalogue> {
        Arc::new(Catalogue {
            store,
            cached: tokio::sync::Mutex::new(None),
            changed: broadcast::channel(16).0,
            watching: std::sync::Once::new(),
        })
    }

    /// The plugin tools, read from the store unless read in the last [`FRESH_FOR`].
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((read_at, snapshot)) = cached.as_ref() {
            if read_at.elapsed() < FRESH_FOR {
                return Ok(snapshot.clone());
            }
        }
        let snapshot = Arc::new(read(self.store.as_ref()).await?);
        *cached = Some((Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }

    /// A receiver told (with `()`) each time the plugin tools change; starts the watcher.
    pub fn subscribe(self: &Arc<Self>) -> broadcast::Receiver<()> {
        let receiver = self.changed.subscribe();
        self.watching.call_once(|| {
            tokio::spawn(watch(Arc::downgrade(self)));
        });
        receiver
    }

    /// Every tool `caller` may use, ordered by name.
    pub async fn visible(&self, caller: &Caller) -> Result<Vec<(String, Entry)>, Failure> {
        let snapshot = self.snapshot().await.map_err(store_failure)?;
        let read_only = is_read_only(caller);
        let plugins = self.tenant_plugins(caller).await?;
        let mut entries: Vec<(String, Entry)> = host_tools::TOOLS
            .iter()
            .filter(|tool| !read_only || tool.read_only)
            .map(|tool| (tool.name.to_owned(), Entry::Host(tool)))
            .collect();
        for (name, tool) in &snapshot.tools {
            let allowed = plugins
                .as_ref()
                .is_none_or(|plugins| plugins.contains(&tool.plugin));
            if allowed && (!read_only || tool.tool.is_read_only()) {
                entries.push((name.clone(), Entry::Plugin(tool.clone())));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// The tool `name` if it exists for `caller`; `Err` with a `403` when it exists but the
    /// caller's token may only read and the tool may change things; `Ok(None)` when it does not
    /// exist or belongs to a plugin the caller's tenant has no config of.
    pub async fn find(&self, caller: &Caller, name: &str) -> Result<Option<Entry>, Failure> {
        let entry = match host_tools::TOOLS.iter().find(|tool| tool.name == name) {
            Some(tool) => Entry::Host(tool),
            None => {
                let snapshot = self.snapshot().await.map_err(store_failure)?;
                let Some(tool) = snapshot.tools.get(name) else {
                    return Ok(None);
                };
                if let Some(plugins) = self.tenant_plugins(caller).await? {
                    if !plugins.contains(&tool.plugin) {
                        return Ok(None);
                    }
                }
                Entry::Plugin(tool.clone())
            }
        };
        let read_only = match &entry {
            Entry::Host(tool) => tool.read_only,
            Entry::Plugin(tool) => tool.tool.is_read_only(),
        };
        if is_read_only(caller) && !read_only {
            return Err(super::transport::insufficient_scope(
                caller,
                &format!("tool `{name}` may change things and this token may only read"),
            ));
        }
        Ok(Some(entry))
    }

    /// The plugins whose tools a tenant token may see (those its tenant has a config of);
    /// `None` for callers not confined to a tenant.
    async fn tenant_plugins(&self, caller: &Caller) -> Result<Option<HashSet<String>>, Failure> {
        let Some(tenant) = caller.tenant() else {
            return Ok(None);
        };
        let configs = self
            .store
            .config_list(ConfigFilter {
                tenant: Some(tenant.to_owned()),
                plugin: None,
                limit: 0,
            })
            .await
            .map_err(store_failure)?;
        Ok(Some(
            configs.into_iter().map(|config| config.plugin).collect(),
        ))
    }
}

/// True for read tokens.
pub fn is_read_only(caller: &Caller) -> bool {
    matches!(caller, Caller::Token(token) if token.access == TokenAccess::Read)
}

pub fn store_failure(error: StoreError) -> Failure {
    tracing::error!(%error, "the MCP endpoint could not read the store");
    Failure::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        super::jsonrpc::INTERNAL_ERROR,
        "the store is unavailable; try again",
    )
}

/// One page of `entries` after `cursor`, and the cursor of the next page (`None`: the last).
///
/// # Errors
/// `-32602` for a cursor this server did not give out.
pub fn page(
    entries: Vec<(String, Entry)>,
    cursor: Option<&str>,
) -> Result<(Vec<Value>, Option<String>), Failure> {
    let after = match cursor {
        None => None,
        Some(cursor) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.strip_prefix("after:").map(str::to_owned))
                .ok_or_else(|| {
                    Failure::invalid_params(format!(
                        "`{cursor}` is not a cursor of this server; pass nextCursor as it came"
                    ))
                })?,
        ),
    };
    let rest: Vec<(String, Entry)> = entries
        .into_iter()
        .filter(|(name, _)| after.as_ref().is_none_or(|after| name > after))
        .collect();
    let more = rest.len() > PAGE;
    let page: Vec<(String, Entry)> = rest.into_iter().take(PAGE).collect();
    let next = more
        .then(|| page.last().map(|(name, _)| name.clone()))
        .flatten()
        .map(|name| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{name}"))
        });
    Ok((
        page.iter().map(|(_, entry)| entry.definition()).collect(),
        next,
    ))
}

/// True for a tool name MCP accepts: 1 to 128 of `A-Z a-z 0-9 _ - .`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

/// Reads the plugin tools from the store.
async fn read(store: &dyn Store) -> Result<Snapshot, StoreError> {
    let registry = store.plugin_list().await?;
    let registered: HashSet<String> = registry.iter().map(|plugin| plugin.id.clone()).collect();
    let mut plugins: BTreeSet<String> = registry
        .into_iter()
        .filter(|plugin| plugin.state == PluginState::Enabled)
        .map(|plugin| plugin.id)
        .collect();
    for node in store.node_list().await? {
        if NodeStatus::of(&node) == NodeStatus::Up {
            plugins.extend(
                node.plugins
                    .into_iter()
                    .filter(|plugin| !registered.contains(plugin)),
            );
        }
    }
    let mut tools = BTreeMap::new();
    let mut fingerprint = String::new();
    for plugin in plugins {
        let Some(record) = store.plugin_metadata_get(&plugin).await? else {
            continue;
        };
        let Some(metadata) = record.metadata else {
            continue;
        };
        // An update that keeps the tools still changes what the agent calls.
        fingerprint.push_str(&format!("{plugin}@{}\n", record.version));
        let metadata: Metadata = match serde_json::from_value(metadata) {
            Ok(metadata) => metadata,
            Err(error) => {
                tracing::warn!(plugin = %plugin, %error, "the plugin's cached metadata does not read; its tools are not offered over MCP");
                continue;
            }
        };
        for tool in metadata.tools {
            let name = format!("{plugin}.{}", tool.name);
            if !is_valid_name(&name) {
                tracing::warn!(plugin = %plugin, tool = %tool.name, "the tool's name is not a valid MCP tool name (1 to 128 of A-Z a-z 0-9 _ - .); it is not offered");
                continue;
            }
            let input_schema = match &tool.input_schema {
                Value::Null => json!({"type": "object"}),
                schema => schema.clone(),
            };
            let validator = match jsonschema::options()
                .should_validate_formats(true)
                .build(&input_schema)
            {
                Ok(validator) => validator,
                Err(error) => {
                    tracing::warn!(plugin = %plugin, tool = %tool.name, %error, "the tool's inputSchema is not a JSON Schema; it is not offered");
                    continue;
                }
            };
            let output_validator = match &tool.output_schema {
                None => None,
                Some(schema) => match jsonschema::options().build(schema) {
                    Ok(validator) => Some(validator),
                    Err(error) => {
                        tracing::warn!(plugin = %plugin, tool = %tool.name, %error, "the tool's outputSchema is not a JSON Schema; it is not offered");
                        continue;
                    }
                },
            };
            let definition = definition(&name, &tool, input_schema.clone());
            fingerprint.push_str(&definition.to_string());
            fingerprint.push('\n');
            let mirrored = mirrored_arguments(&input_schema);
            tools.insert(
                name,
                Arc::new(PluginTool {
                    plugin: plugin.clone(),
                    tool,
                    definition,
                    validator,
                    output_validator,
                    mirrored,
                }),
            );
        }
    }
    Ok(Snapshot { tools, fingerprint })
}

/// The MCP definition of a plugin tool.
fn definition(name: &str, tool: &Tool, input_schema: Value) -> Value {
    let mut definition = json!({
        "name": name,
        "description": tool.description,
        "inputSchema": input_schema,
    });
    if let Some(title) = &tool.title {
        definition["title"] = json!(title);
    }
    if let Some(output_schema) = &tool.output_schema {
        definition["outputSchema"] = output_schema.clone();
    }
    if let Some(annotations) = &tool.annotations {
        definition["annotations"] = json!(annotations);
    }
    definition
}

/// The arguments a schema mirrors in headers: each property reached from the root through
/// `properties` alone that carries `x-mcp-header`.
fn mirrored_arguments(schema: &Value) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut pending = vec![(schema, Vec::new())];
    while let Some((schema, path)) = pending.pop() {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (key, property) in properties {
            let mut here = path.clone();
            here.push(key.clone());
            if let Some(header) = property.get("x-mcp-header").and_then(Value::as_str) {
                found.push((header.to_owned(), here.clone()));
            }
            if here.len() < 16 {
                pending.push((property, here));
            }
        }
    }
    found
}

/// Reads the catalogue every [`WATCH_EVERY`] while anyone listens, and tells the listeners when
/// the plugin tools changed. Ends with the catalogue.
async fn watch(catalogue: Weak<Catalogue>) {
    let mut last: Option<String> = None;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(catalogue) = catalogue.upgrade() else {
            return;
        };
        if catalogue.changed.receiver_count() == 0 {
            last = None;
            continue;
        }
        let snapshot = match catalogue.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "reading the MCP tool catalogue failed; trying again in a second");
                continue;
            }
        };
        let changed = last
            .as_ref()
            .is_some_and(|last| *last != snapshot.fingerprint);
        last = Some(snapshot.fingerprint.clone());
        if changed {
            let _ = catalogue.changed.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_mcp_rule() {
        assert!(is_valid_name("hello-rust.greet"));
        assert!(is_valid_name("list_jobs"));
        assert!(!is_valid_name("hello.say hi"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(129)));
    }

    #[test]
    fn pages_follow_their_cursor_and_end() {
        let entries = |count: usize| -> Vec<(String, Entry)> {
            (0..count)
                .map(|index| {
                    (
                        format!("p.tool{index:04}"),
                        Entry::Host(&host_tools::TOOLS[0]),
                    )
                })
                .collect()
        };
        let (first, next) = page(entries(PAGE + 5), None).expect("a first page");
        assert_eq!(first.len(), PAGE);
        let next = next.expect("a second page");
        let (second, last) = page(entries(PAGE + 5), Some(&next)).expect("a second page");
        assert_eq!(second.len(), 5);
        assert_eq!(last, None);
        let refused = page(entries(3), Some("not-ours")).expect_err("refused");
        assert_eq!(refused.code, super::super::jsonrpc::INVALID_PARAMS);
    }

    #[test]
    fn mirrored_arguments_are_found_through_properties_only() {
        let schema = json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "nested": {"type": "object", "properties": {"zone": {"type": "string", "x-mcp-header": "Zone"}}},
                "list": {"type": "array", "items": {"x-mcp-header": "Ignored"}}
            }
        });
        let mut found = mirrored_arguments(&schema);
        found.sort();
        assert_eq!(
            found,
            [
                ("Region".to_owned(), vec!["region".to_owned()]),
                (
                    "Zone".to_owned(),
                    vec!["nested".to_owned(), "zone".to_owned()]
                ),
            ]
        );
    }
}
