//! What this node knows about itself that `api` cannot ask `plugins/` or `queue/`'s running pool
//! for directly: handed over by `cli` at start, as the health check's `sandbox` is. Servers
//! without workers or plugins (tests, tools) leave these empty.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::methods::{ConfigTestResult, ConfigValidateResult, HttpParams, HttpResult};
use plugboard_protocol::Metadata;
use serde_json::Value;

use crate::queue::PoolStats;

/// This node: its id in the nodes table, its worker pool and its plugin processes.
#[derive(Clone, Default)]
pub struct LocalNode {
    /// The id this node registered under (its worker pool's lease owner name).
    pub node_id: Option<String>,
    /// The worker pool's liveness and run durations; `None`: no workers here.
    pub workers: Option<Arc<PoolStats>>,
    /// The plugin processes of this node; `None`: no plugins here.
    pub plugins: Option<Arc<dyn LocalPlugins>>,
}

/// One loaded plugin's processes on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPlugin {
    pub id: String,
    /// How many instances are in each state (`starting`, `ready`, `stopping`, `stopped`,
    /// `failed`).
    pub instances: Vec<(&'static str, usize)>,
    /// Processes started again after one ended (a crash, or a hung run replaced) since the
    /// plugin's current version was loaded.
    pub restarts: u64,
}

/// Why a plugin could not answer a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginCallError {
    #[error("plugin `{0}` is not loaded on this node")]
    NotLoaded(String),
    /// Every instance failed.
    #[error("plugin `{plugin}` has failed on this node: {reason}")]
    Failed { plugin: String, reason: String },
    /// No instance became ready, or it did not answer, within the time given.
    #[error("{0}")]
    TimedOut(String),
    /// It answered with an error, or with something that is not an answer.
    #[error("{0}")]
    Answered(String),
    /// No instance was ready in time (starting, restarting, or busy).
    #[error("{0}")]
    NotReady(String),
    /// The version asked stopped before the call reached it (an update switched, or the plugin
    /// was disabled): ask the plugin's current version.
    #[error("{0}")]
    Stopped(String),
    /// The process ended while the call was in it.
    #[error("{0}")]
    Crashed(String),
    /// The plugin has no such method: it offers nothing to call (an optional method such as
    /// `config/test`).
    #[error("plugin `{plugin}` does not implement `{method}`")]
    NotImplemented { plugin: String, method: String },
}

/// One loaded version of a plugin, as its routes reach it. A request that got it finishes on
/// it, even when an update switches to the next version meanwhile.
#[async_trait]
pub trait PluginEndpoint: Send + Sync {
    /// The version.
    fn version(&self) -> &str;

    /// What the version declared at its last handshake (its routes); `None` before the first.
    fn declared(&self) -> Option<Arc<Metadata>>;

    /// Sends `http` to a ready instance: waits up to `ready_within` for one, then up to
    /// `timeout` for its answer, after which the request is cancelled in the plugin.
    async fn http(
        &self,
        params: &HttpParams,
        ready_within: Duration,
        timeout: Duration,
    ) -> Result<HttpResult, PluginCallError>;
}

/// The plugin processes of this node.
#[async_trait]
pub trait LocalPlugins: Send + Sync {
    /// Every loaded plugin, by id.
    fn plugins(&self) -> Vec<LocalPlugin>;

    /// The version of `plugin` running on this node now; `None`: not loaded here.
    fn endpoint(&self, plugin: &str) -> Option<Arc<dyn PluginEndpoint>>;

    /// Asks a ready instance's `config/validate` about `values` (secrets opened).
    async fn config_validate(
        &self,
        plugin: &str,
        tenant: &str,
        values: Value,
        timeout: Duration,
    ) -> Result<ConfigValidateResult, PluginCallError>;

    /// Runs the plugin's `config/test` with `values` (secrets opened) on a ready instance.
    async fn config_test(
        &self,
        plugin: &str,
        tenant: &str,
        values: Value,
        timeout: Duration,
    ) -> Result<ConfigTestResult, PluginCallError>;
}

/// How long saving or validating a config waits for the plugin's `config/validate` (a ready
/// instance and its answer): the method must be quick.
pub const CONFIG_VALIDATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The plugins of this node as the tenants' [`crate::tenants::PluginCheck`]: `config/validate`
/// on a running instance; a plugin not loaded here, or failed, is not asked.
pub struct LocalCheck(pub Arc<dyn LocalPlugins>);

#[async_trait]
impl crate::tenants::PluginCheck for LocalCheck {
    async fn validate(
        &self,
        plugin: &str,
        tenant: &str,
        values: &Value,
    ) -> Result<Option<Vec<String>>, String> {
        match self
            .0
            .config_validate(plugin, tenant, values.clone(), CONFIG_VALIDATE_TIMEOUT)
            .await
        {
            Ok(answer) => {
                let mut problems: Vec<String> = answer
                    .errors
                    .iter()
                    .map(|problem| {
                        let path = if problem.path.is_empty() {
                            "/"
                        } else {
                            &problem.path
                        };
                        format!("{path}: {}", problem.message)
                    })
                    .collect();
                if !answer.valid && problems.is_empty() {
                    problems.push("/: the plugin says the values are not valid".to_owned());
                }
                Ok(Some(problems))
            }
            Err(PluginCallError::NotLoaded(_) | PluginCallError::Failed { .. }) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }
}
