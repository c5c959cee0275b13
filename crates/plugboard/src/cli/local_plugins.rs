//! What `serve` hands the API about this node's plugin processes (`api::LocalPlugins`): their
//! states and restarts for `/metrics`, and `config/test` on a running instance. It lives here,
//! at the edge that holds both, so that `api` does not depend on `plugins`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plugboard_protocol::methods::{ConfigTestResult, ConfigValidateResult, HttpParams, HttpResult};
use plugboard_protocol::Metadata;
use serde_json::Value;

use crate::api::{LocalPlugin, LocalPlugins, PluginCallError, PluginEndpoint};
use crate::plugins::config_calls::{self, ConfigCallError};
use crate::plugins::host::PluginHost;
use crate::plugins::http_calls::{self, HttpCallError};
use crate::plugins::supervisor::{InstanceState, Supervisor};

/// The plugins of this node's [`PluginHost`].
pub struct HostPlugins(pub Arc<PluginHost>);

#[async_trait]
impl LocalPlugins for HostPlugins {
    fn plugins(&self) -> Vec<LocalPlugin> {
        self.0
            .ids()
            .into_iter()
            .filter_map(|id| {
                let supervisor = self.0.supervisor(&id)?;
                let mut instances: Vec<(&'static str, usize)> = Vec::new();
                for state in supervisor.states() {
                    let name = match state {
                        InstanceState::Stopped => "stopped",
                        InstanceState::Starting => "starting",
                        InstanceState::Ready => "ready",
                        InstanceState::Stopping => "stopping",
                        InstanceState::Failed(_) => "failed",
                    };
                    match instances.iter_mut().find(|(known, _)| *known == name) {
                        Some((_, count)) => *count += 1,
                        None => instances.push((name, 1)),
                    }
                }
                instances.sort();
                Some(LocalPlugin {
                    id,
                    instances,
                    restarts: supervisor.restarts(),
                })
            })
            .collect()
    }

    fn endpoint(&self, plugin: &str) -> Option<Arc<dyn PluginEndpoint>> {
        let supervisor = self.0.supervisor(plugin)?;
        Some(Arc::new(Version(supervisor)))
    }

    async fn config_validate(
        &self,
        plugin: &str,
        tenant: &str,
        values: Value,
        timeout: Duration,
    ) -> Result<ConfigValidateResult, PluginCallError> {
        config_calls::validate(&self.0, plugin, Some(tenant), values, timeout)
            .await
            .map_err(call_error)
    }

    async fn config_test(
        &self,
        plugin: &str,
        tenant: &str,
        values: Value,
        timeout: Duration,
    ) -> Result<ConfigTestResult, PluginCallError> {
        config_calls::test(&self.0, plugin, Some(tenant), values, timeout)
            .await
            .map_err(call_error)
    }
}

/// A config call's failure as the API tells it.
fn call_error(error: ConfigCallError) -> PluginCallError {
    match error {
        ConfigCallError::NotLoaded(plugin) => PluginCallError::NotLoaded(plugin),
        ConfigCallError::Failed { plugin, reason } => PluginCallError::Failed { plugin, reason },
        error @ (ConfigCallError::NotReady { .. } | ConfigCallError::NoAnswer { .. }) => {
            PluginCallError::TimedOut(error.to_string())
        }
        ConfigCallError::Call {
            plugin,
            method,
            not_implemented: true,
            ..
        } => PluginCallError::NotImplemented {
            plugin,
            method: method.to_owned(),
        },
        error @ (ConfigCallError::Call { .. } | ConfigCallError::Malformed { .. }) => {
            PluginCallError::Answered(error.to_string())
        }
    }
}

/// One loaded version: its supervisor.
struct Version(Arc<Supervisor>);

#[async_trait]
impl PluginEndpoint for Version {
    fn version(&self) -> &str {
        self.0.version()
    }

    fn declared(&self) -> Option<Arc<Metadata>> {
        self.0.declared()
    }

    async fn http(
        &self,
        params: &HttpParams,
        ready_within: Duration,
        timeout: Duration,
    ) -> Result<HttpResult, PluginCallError> {
        http_calls::http(&self.0, params, ready_within, timeout)
            .await
            .map_err(|error| {
                let message = error.to_string();
                match error {
                    HttpCallError::NotReady { .. } => PluginCallError::NotReady(message),
                    HttpCallError::Stopped { .. } => PluginCallError::Stopped(message),
                    HttpCallError::Failed { plugin, reason } => {
                        PluginCallError::Failed { plugin, reason }
                    }
                    HttpCallError::Crashed { .. } => PluginCallError::Crashed(message),
                    HttpCallError::Answered { .. } | HttpCallError::Malformed { .. } => {
                        PluginCallError::Answered(message)
                    }
                    HttpCallError::TimedOut { .. } => PluginCallError::TimedOut(message),
                }
            })
    }
}
