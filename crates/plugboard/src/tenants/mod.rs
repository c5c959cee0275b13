//! Tenants and their plugin configs: the front door for creating, changing, checking and running
//! them by hand.
//!
//! Owns: tenant and config names, checking values against the plugin's config schema (from the
//! metadata the plugin reported, cached in the store) with every failing path in the message,
//! secret fields (`secrets.rs`: sealed before they are stored, never shown by reads), marking
//! configs invalid when a new plugin version's schema rejects them, setting a config's schedule
//! cursor when its schedule changes, and manual runs.
//!
//! Must not touch: SQL (everything goes through `Store`), processes (the plugin's own
//! `config/validate` and `config/test` are `plugins/config_calls.rs`), HTTP. When a schedule
//! fires is `schedule/`'s business; which configs an event reaches, `events/`'s.

pub mod client_run;
pub mod run;
pub mod schema;
pub mod secrets;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use plugboard_protocol::methods::TriggerKind;
use serde::Serialize;
use serde_json::{json, Value};

use crate::schedule::{self, ScheduleError, ScheduleSpec};
use crate::store::{
    Config, ConfigFilter, ConfigPut, Enqueued, ScheduleCursor, Store, StoreError, Tenant, Timestamp,
};
pub use secrets::{SecretError, SecretKey};

/// What can go wrong with tenants and configs. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidName {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("tenant `{0}` does not exist; create it with `plugboard tenant create {0}`")]
    UnknownTenant(String),
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    #[error("tenant {tenant} has no config `{name}` for plugin {plugin}; `plugboard config list --tenant {tenant}` shows its configs")]
    UnknownConfig {
        tenant: String,
        plugin: String,
        name: String,
    },
    #[error("config {0} does not exist")]
    UnknownConfigId(String),
    #[error("tenant {tenant} already has config `{name}` for plugin {plugin}; change it with `plugboard config set`")]
    ConfigExists {
        tenant: String,
        plugin: String,
        name: String,
    },
    #[error("plugin `{0}` is installed and has not reported its config schema yet (no node has started it); `plugboard plugin show {0}` says why, then set the config")]
    NoMetadata(String),
    #[error("no plugin `{0}` is installed; `plugboard plugin list` shows those that are, `plugboard plugin install` adds one")]
    UnknownPlugin(String),
    #[error("plugin {plugin} declares a config schema that is not valid JSON Schema: {reason}; fix the plugin")]
    BadSchema { plugin: String, reason: String },
    #[error("the values do not match plugin {plugin}'s config schema:\n  {}", problems.join("\n  "))]
    SchemaRejects {
        plugin: String,
        problems: Vec<String>,
    },
    #[error("plugin {plugin} rejects the values (its config/validate):\n  {}", problems.join("\n  "))]
    PluginRejects {
        plugin: String,
        problems: Vec<String>,
    },
    #[error("plugin {plugin} could not check the values (its config/validate): {reason}; nothing was saved, try again")]
    PluginCheckFailed { plugin: String, reason: String },
    #[error("invalid event pattern `{pattern}`: {reason}")]
    EventPattern { pattern: String, reason: String },
    #[error("config {id} is invalid and does not run: {reason}; fix its values with `plugboard config set`")]
    ConfigInvalid { id: String, reason: String },
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("a plugin.run payload may not carry {}: only the host writes a run's config and trigger; name a config by its id (`config` of POST /api/v1/jobs, `--config-id` of `plugboard job enqueue`) and the host fills it in", .fields.iter().map(|field| format!("`{field}`")).collect::<Vec<_>>().join(" or "))]
    HostWrittenFields { fields: Vec<&'static str> },
    #[error("the payload's `{field}` is {given}, and config {config} is of {field} `{expected}`; leave `{field}` out or give `{expected}`")]
    RunMismatch {
        field: &'static str,
        given: String,
        config: String,
        expected: String,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A config to create or change, named by tenant, plugin and name. A `None` field keeps what
/// is stored (a new config: empty values, no schedule, no events, enabled).
#[derive(Debug, Clone, Default)]
pub struct ConfigRequest {
    pub tenant: String,
    pub plugin: String,
    pub name: String,
    pub values: Option<Value>,
    /// `Some(None)` removes the schedule.
    pub schedule: Option<Option<ScheduleSpec>>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// A config as reads show it: secrets replaced by `********`, with its next fires.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    #[serde(flatten)]
    pub config: Config,
    /// The next fire times (RFC 3339), computed without running anything.
    pub next_fires: Vec<String>,
}

/// The plugin's own check of a config's values (`config/validate`), asked of a running
/// instance by whoever runs the plugins.
#[async_trait::async_trait]
pub trait PluginCheck: Send + Sync {
    /// The plugin's problems with `values` (secrets opened), each `<JSON pointer>: <what is
    /// wrong>` (`/` for the whole); empty when it accepts them. `Ok(None)` when no instance can
    /// answer here (the plugin does not run on this node, is disabled or has failed): then only
    /// the schema checks the values. `Err` with why when a running plugin did not answer.
    async fn validate(
        &self,
        plugin: &str,
        tenant: &str,
        values: &Value,
    ) -> Result<Option<Vec<String>>, String>;
}

/// The front door for tenants and configs.
#[derive(Clone)]
pub struct Tenants {
    store: Arc<dyn Store>,
    key: SecretKey,
    plugin_check: Option<Arc<dyn PluginCheck>>,
}

/// How many next fires a view shows.
pub const PREVIEW_FIRES: usize = 5;

impl Tenants {
    pub fn new(store: Arc<dyn Store>, key: SecretKey) -> Tenants {
        Tenants {
            store,
            key,
            plugin_check: None,
        }
    }

    /// These tenants, with the plugin's own `config/validate` asked after the schema accepts a
    /// config being saved or validated.
    pub fn with_plugin_check(mut self, check: Arc<dyn PluginCheck>) -> Tenants {
        self.plugin_check = Some(check);
        self
    }

    /// Asks the plugin about `plain` values the schema accepted.
    async fn plugin_rejects(
        &self,
        plugin: &str,
        tenant: &str,
        plain: &Value,
    ) -> Result<Vec<String>, TenantError> {
        let Some(check) = &self.plugin_check else {
            return Ok(Vec::new());
        };
        match check.validate(plugin, tenant, plain).await {
            Ok(problems) => Ok(problems.unwrap_or_default()),
            Err(reason) => Err(TenantError::PluginCheckFailed {
                plugin: plugin.to_owned(),
                reason,
            }),
        }
    }

    /// The store behind the facade.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Creates a tenant.
    ///
    /// # Errors
    /// A malformed id, or one that exists.
    pub async fn create_tenant(&self, id: &str, name: Option<&str>) -> Result<Tenant, TenantError> {
        check_name("tenant id", id)?;
        self.store
            .tenant_create(id, name.unwrap_or(id))
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => TenantError::TenantExists(id.to_owned()),
                other => other.into(),
            })
    }

    /// Reads a tenant, or says it does not exist.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, TenantError> {
        self.store
            .tenant_get(id)
            .await?
            .ok_or_else(|| TenantError::UnknownTenant(id.to_owned()))
    }

    /// Every tenant.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, TenantError> {
        Ok(self.store.tenant_list().await?)
    }

    /// Deletes a tenant and its configs.
    pub async fn delete_tenant(&self, id: &str) -> Result<(), TenantError> {
        if self.store.tenant_delete(id).await? {
            Ok(())
        } else {
            Err(TenantError::UnknownTenant(id.to_owned()))
        }
    }

    /// Creates or changes a config. Everything is checked before anything is written: the
    /// tenant exists, the names, the schedule, the event patterns, and the values against the
    /// plugin's config schema. Secret fields are sealed; a secret left out (or given as
    /// `********`) keeps its stored value. A changed schedule, or a config enabled again,
    /// starts firing from now: fires from before are not caught up.
    ///
    /// # Errors
    /// See [`TenantError`]; nothing is stored when one is returned.
    pub async fn set_config(&self, request: ConfigRequest) -> Result<ConfigView, TenantError> {
        check_name("plugin id", &request.plugin)?;
        check_name("config name", &request.name)?;
        self.tenant(&request.tenant).await?;
        let existing = self
            .store
            .config_find(&request.tenant, &request.plugin, &request.name)
            .await?;
        let now = Timestamp::now();
        let put = self.prepare(&request, existing.as_ref(), now).await?;
        let stored = self.store.config_put(put).await?;
        Ok(self.view(stored, now))
    }

    /// Creates a config that must not exist yet, with the checks of [`Tenants::set_config`]. Of
    /// concurrent creations of one tenant, plugin and name exactly one succeeds; the others get
    /// [`TenantError::ConfigExists`].
    ///
    /// # Errors
    /// See [`TenantError`]; nothing is stored when one is returned.
    pub async fn create_config(&self, request: ConfigRequest) -> Result<ConfigView, TenantError> {
        check_name("plugin id", &request.plugin)?;
        check_name("config name", &request.name)?;
        self.tenant(&request.tenant).await?;
        let now = Timestamp::now();
        let put = self.prepare(&request, None, now).await?;
        let stored = self
            .store
            .config_create(put)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => TenantError::ConfigExists {
                    tenant: request.tenant.clone(),
                    plugin: request.plugin.clone(),
                    name: request.name.clone(),
                },
                other => other.into(),
            })?;
        Ok(self.view(stored, now))
    }

    /// Runs every check [`Tenants::create_config`] runs on a new config, and stores nothing.
    ///
    /// # Errors
    /// The first check that fails, as create would answer it.
    pub async fn check_new_config(&self, request: &ConfigRequest) -> Result<(), TenantError> {
        check_name("plugin id", &request.plugin)?;
        check_name("config name", &request.name)?;
        self.tenant(&request.tenant).await?;
        self.prepare(request, None, Timestamp::now()).await?;
        Ok(())
    }

    /// Checks a request against the config it changes (`None`: a new one) and builds what to
    /// store: values with secrets sealed, the schedule's cursor when it changes.
    async fn prepare(
        &self,
        request: &ConfigRequest,
        existing: Option<&Config>,
        now: Timestamp,
    ) -> Result<ConfigPut, TenantError> {
        let schedule_spec = match (&request.schedule, existing) {
            (Some(spec), _) => spec.clone(),
            (None, Some(config)) => config
                .schedule
                .as_ref()
                .map(ScheduleSpec::from_value)
                .transpose()?,
            (None, None) => self.default_schedule_of(&request.plugin).await?,
        };
        let compiled = schedule_spec
            .as_ref()
            .map(|spec| spec.compile(existing.map_or(now, |config| config.created_at)))
            .transpose()?;
        let events = match (&request.events, existing) {
            (Some(events), _) => events.clone(),
            (None, Some(config)) => config.events.clone(),
            (None, None) => Vec::new(),
        };
        for pattern in &events {
            check_event_pattern(pattern)?;
        }
        let mut values = match (&request.values, existing) {
            (Some(values), _) => values.clone(),
            (None, Some(config)) => config.values.clone(),
            (None, None) => json!({}),
        };
        let schema = self.schema_of(&request.plugin).await?;
        let secret_paths = schema
            .as_ref()
            .map(secrets::secret_paths)
            .unwrap_or_default();
        if let Some(config) = existing {
            secrets::keep_unchanged_secrets(&mut values, &config.values, &secret_paths);
        }
        if let Some(schema) = &schema {
            let mut plain = values.clone();
            self.key.open(&mut plain)?;
            let problems =
                schema::check(schema, &plain).map_err(|reason| TenantError::BadSchema {
                    plugin: request.plugin.clone(),
                    reason,
                })?;
            if !problems.is_empty() {
                return Err(TenantError::SchemaRejects {
                    plugin: request.plugin.clone(),
                    problems,
                });
            }
            // Values already stored are not asked about again (a config disabled or
            // rescheduled must not wait on a plugin that is down).
            let unchanged = match existing {
                Some(config) => {
                    let mut stored = config.values.clone();
                    self.key.open(&mut stored)?;
                    stored == plain
                }
                None => false,
            };
            let problems = if unchanged {
                Vec::new()
            } else {
                self.plugin_rejects(&request.plugin, &request.tenant, &plain)
                    .await?
            };
            if !problems.is_empty() {
                return Err(TenantError::PluginRejects {
                    plugin: request.plugin.clone(),
                    problems,
                });
            }
        }
        self.key.seal(&mut values, &secret_paths);
        let enabled = request
            .enabled
            .or(existing.map(|config| config.enabled))
            .unwrap_or(true);
        let schedule_changed = existing.is_none_or(|config| {
            config.schedule != schedule_spec.as_ref().map(ScheduleSpec::to_value)
                || (enabled && !config.enabled)
        });
        let cursor = schedule_changed.then(|| ScheduleCursor {
            last_fire_at: Some(now),
            next_fire_at: compiled
                .as_ref()
                .filter(|schedule| !schedule.paused)
                .and_then(|schedule| schedule.next_after(now)),
        });
        let config = Config {
            id: existing.map_or_else(new_config_id, |config| config.id.clone()),
            tenant: request.tenant.clone(),
            plugin: request.plugin.clone(),
            name: request.name.clone(),
            values,
            enabled,
            schedule: schedule_spec.as_ref().map(ScheduleSpec::to_value),
            events,
            invalid_reason: None,
            last_fire_at: None,
            next_fire_at: None,
            created_at: now,
            updated_at: now,
        };
        Ok(ConfigPut { config, cursor })
    }

    /// Finds a config by tenant, plugin and name.
    pub async fn config(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
    ) -> Result<Config, TenantError> {
        self.store
            .config_find(tenant, plugin, name)
            .await?
            .ok_or_else(|| TenantError::UnknownConfig {
                tenant: tenant.to_owned(),
                plugin: plugin.to_owned(),
                name: name.to_owned(),
            })
    }

    /// A config as reads show it, with its next fires.
    pub async fn show_config(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
    ) -> Result<ConfigView, TenantError> {
        let config = self.config(tenant, plugin, name).await?;
        Ok(self.view(config, Timestamp::now()))
    }

    /// Configs by tenant and plugin, as reads show them.
    pub async fn list_configs(&self, filter: ConfigFilter) -> Result<Vec<ConfigView>, TenantError> {
        let now = Timestamp::now();
        Ok(self
            .store
            .config_list(filter)
            .await?
            .into_iter()
            .map(|config| self.view(config, now))
            .collect())
    }

    /// Enables or disables a config. Enabling starts its schedule from now.
    pub async fn set_enabled(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
        enabled: bool,
    ) -> Result<ConfigView, TenantError> {
        self.set_config(ConfigRequest {
            tenant: tenant.to_owned(),
            plugin: plugin.to_owned(),
            name: name.to_owned(),
            enabled: Some(enabled),
            ..ConfigRequest::default()
        })
        .await
    }

    /// Deletes a config.
    pub async fn delete_config(
        &self,
        tenant: &str,
        plugin: &str,
        name: &str,
    ) -> Result<(), TenantError> {
        let config = self.config(tenant, plugin, name).await?;
        self.store.config_delete(&config.id).await?;
        Ok(())
    }

    /// Checks a config's stored values against the plugin's current schema, and its stored
    /// schedule; returns the problems (empty: valid).
    pub async fn check_config(&self, config: &Config) -> Result<Vec<String>, TenantError> {
        let mut problems = Vec::new();
        if let Some(spec) = &config.schedule {
            if let Err(error) =
                ScheduleSpec::from_value(spec).and_then(|spec| spec.compile(config.created_at))
            {
                problems.push(format!("schedule: {error}"));
            }
        }
        let Some(schema) = self.schema_of(&config.plugin).await? else {
            return Ok(problems);
        };
        let mut plain = config.values.clone();
        self.key.open(&mut plain)?;
        problems.extend(schema::check(&schema, &plain).map_err(|reason| {
            TenantError::BadSchema {
                plugin: config.plugin.clone(),
                reason,
            }
        })?);
        Ok(problems)
    }

    /// [`Tenants::check_config`], then, when the schema accepts the values, the plugin's own
    /// `config/validate`: what `POST /api/v1/configs/{id}/validate` answers.
    pub async fn validate_config(&self, config: &Config) -> Result<Vec<String>, TenantError> {
        let mut problems = self.check_config(config).await?;
        if problems.is_empty() && self.schema_of(&config.plugin).await?.is_some() {
            let values = self.open_values(config)?;
            problems = self
                .plugin_rejects(&config.plugin, &config.tenant, &values)
                .await?;
        }
        Ok(problems)
    }

    /// Checks every config of `plugin` against the plugin's current schema and marks those it
    /// rejects invalid with the reason (they stop running), and clears the mark of those it
    /// accepts again. Returns how many are invalid.
    pub async fn revalidate_plugin(&self, plugin: &str) -> Result<usize, TenantError> {
        let configs = self
            .store
            .config_list(ConfigFilter {
                plugin: Some(plugin.to_owned()),
                limit: usize::MAX >> 1,
                ..ConfigFilter::default()
            })
            .await?;
        let mut invalid = 0;
        for config in configs {
            let reason = match self.check_config(&config).await {
                Ok(problems) if problems.is_empty() => None,
                Ok(problems) => Some(format!(
                    "the config does not pass plugin {plugin}'s checks: {}",
                    problems.join("; ")
                )),
                Err(error) => Some(error.to_string()),
            };
            invalid += usize::from(reason.is_some());
            if reason != config.invalid_reason {
                if let Some(reason) = &reason {
                    tracing::warn!(config = %config.id, tenant = %config.tenant, %reason, "config marked invalid");
                }
                self.store.config_set_invalid(&config.id, reason).await?;
            }
        }
        Ok(invalid)
    }

    /// Enqueues a manual run of a config, now, with its values as stored (a [`ConfigView`]'s
    /// are redacted, which is why this takes the id).
    ///
    /// # Errors
    /// [`TenantError::UnknownConfigId`]; [`TenantError::ConfigInvalid`] when the plugin's
    /// schema rejects the config.
    pub async fn run_now(&self, config_id: &str) -> Result<Enqueued, TenantError> {
        let config = self
            .store
            .config_get(config_id)
            .await?
            .ok_or_else(|| TenantError::UnknownConfigId(config_id.to_owned()))?;
        if let Some(reason) = &config.invalid_reason {
            return Err(TenantError::ConfigInvalid {
                id: config.id.clone(),
                reason: reason.clone(),
            });
        }
        let job = schedule::fire_job(&config, TriggerKind::Manual, None);
        Ok(self.store.job_enqueue(job).await?)
    }

    /// The config's values with secrets opened: what the plugin is given.
    pub fn open_values(&self, config: &Config) -> Result<Value, TenantError> {
        let mut values = config.values.clone();
        self.key.open(&mut values)?;
        Ok(values)
    }

    /// Watches the cached metadata of `plugins` every `every` and, when a plugin reports a
    /// new version or package, checks its configs again ([`Tenants::revalidate_plugin`]), until
    /// `stop`.
    pub fn watch_schemas(
        self,
        plugins: Vec<String>,
        every: std::time::Duration,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen: std::collections::HashMap<String, (String, String)> =
                std::collections::HashMap::new();
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = stop.cancelled() => return,
                }
                for plugin in &plugins {
                    let record = match self.store.plugin_metadata_get(plugin).await {
                        Ok(Some(record)) if record.metadata.is_some() => record,
                        Ok(_) => continue,
                        Err(error) => {
                            tracing::warn!(%plugin, %error, "reading plugin metadata failed");
                            continue;
                        }
                    };
                    let identity = (record.version.clone(), record.checksum.clone());
                    if seen.get(plugin) == Some(&identity) {
                        continue;
                    }
                    match self.revalidate_plugin(plugin).await {
                        Ok(invalid) => {
                            if invalid > 0 {
                                tracing::warn!(%plugin, version = %record.version, invalid, "configs the plugin's schema rejects are marked invalid and do not run");
                            }
                            seen.insert(plugin.clone(), identity);
                        }
                        Err(error) => {
                            tracing::warn!(%plugin, %error, "checking configs against the plugin's schema failed")
                        }
                    }
                }
            }
        })
    }

    /// The schedule the plugin's metadata gives a new config that sets none (`intervalSeconds`
    /// or `cron` there), if any.
    async fn default_schedule_of(&self, plugin: &str) -> Result<Option<ScheduleSpec>, TenantError> {
        let metadata = self
            .store
            .plugin_metadata_get(plugin)
            .await?
            .and_then(|record| record.metadata);
        let Some(schedule) = metadata
            .as_ref()
            .and_then(|metadata| metadata.get("schedule"))
            .filter(|schedule| !schedule.is_null())
        else {
            return Ok(None);
        };
        // A default the host cannot use is the plugin's mistake, not the tenant's: the config
        // is made without a schedule, and the server log says why.
        match ScheduleSpec::from_value(schedule)
            .and_then(|spec| spec.compile(Timestamp::now()).map(|_| spec))
        {
            Ok(spec) => Ok(Some(spec)),
            Err(error) => {
                tracing::warn!(%plugin, %error, "the plugin's default schedule is not one plugboard can run; the new config has none");
                Ok(None)
            }
        }
    }

    async fn schema_of(&self, plugin: &str) -> Result<Option<Value>, TenantError> {
        let metadata = self
            .store
            .plugin_metadata_get(plugin)
            .await?
            .and_then(|record| record.metadata);
        match metadata {
            Some(metadata) => Ok(schema::from_metadata(&metadata).cloned()),
            // A development folder (`serve --plugin DIR`) reports metadata without an install.
            None if self.store.plugin_get(plugin).await?.is_some() => {
                Err(TenantError::NoMetadata(plugin.to_owned()))
            }
            None => Err(TenantError::UnknownPlugin(plugin.to_owned())),
        }
    }

    /// The next `count` fire times of a config from `now`, computed without running anything
    /// (none when it has no schedule, is disabled, invalid or paused).
    pub fn next_fires(&self, config: &Config, count: usize, now: Timestamp) -> Vec<Timestamp> {
        let (Some(spec), true, None) = (&config.schedule, config.enabled, &config.invalid_reason)
        else {
            return Vec::new();
        };
        ScheduleSpec::from_value(spec)
            .and_then(|spec| spec.compile(config.created_at))
            .map(|schedule| {
                if schedule.paused || count == 0 {
                    return Vec::new();
                }
                let from = config.last_fire_at.map_or(now, |last| last.max(now));
                let mut fires = Vec::new();
                if let Some(next) = config.next_fire_at.filter(|next| *next <= from) {
                    fires.push(next);
                }
                fires.extend(schedule.upcoming(from, count - fires.len()));
                fires
            })
            .unwrap_or_default()
    }

    fn view(&self, mut config: Config, now: Timestamp) -> ConfigView {
        let next_fires = self
            .next_fires(&config, PREVIEW_FIRES, now)
            .into_iter()
            .map(schedule::format_time)
            .collect();
        config.values = secrets::redacted(&config.values);
        ConfigView { config, next_fires }
    }
}

/// A new config id: `cfg_` and 16 hex digits.
fn new_config_id() -> String {
    format!("cfg_{:016x}", rand::random::<u64>())
}

/// Tenant ids, plugin ids and config names: 1 to 64 letters, digits, `_`, `-` or `.`.
pub fn check_name(what: &'static str, value: &str) -> Result<(), TenantError> {
    let fine = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if fine {
        Ok(())
    } else {
        Err(TenantError::InvalidName {
            what,
            value: value.to_owned(),
            reason: "use 1 to 64 letters, digits, `_`, `-` or `.`".to_owned(),
        })
    }
}

/// An event pattern: an event type (`form.submitted`), or one ending in `*` (`form.*`, `*`).
pub fn check_event_pattern(pattern: &str) -> Result<(), TenantError> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    let fine = (!body.is_empty() || pattern == "*")
        && pattern.len() <= 128
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if fine {
        Ok(())
    } else {
        Err(TenantError::EventPattern {
            pattern: pattern.to_owned(),
            reason: "use an event type (letters, digits, `_ - . : /`), optionally ending in `*` as in `form.*`".to_owned(),
        })
    }
}
