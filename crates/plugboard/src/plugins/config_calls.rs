//! The plugin's own checks of a config: `config/validate` and `config/test`, sent to a ready
//! instance of a loaded plugin.

use std::time::Duration;

use plugboard_protocol::methods::{self, ConfigParams, ConfigTestResult, ConfigValidateResult};
use serde_json::Value;

use super::host::PluginHost;

/// What can go wrong asking a plugin about a config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigCallError {
    #[error("plugin `{0}` is not loaded here; pass its folder with --plugin DIR")]
    NotLoaded(String),
    #[error("plugin `{plugin}` has failed: {reason}")]
    Failed { plugin: String, reason: String },
    #[error("plugin `{plugin}` did not become ready within {} s", timeout.as_secs())]
    NotReady { plugin: String, timeout: Duration },
    #[error("plugin `{plugin}` did not answer `{method}` within {} s", timeout.as_secs())]
    NoAnswer {
        plugin: String,
        method: &'static str,
        timeout: Duration,
    },
    #[error("plugin `{plugin}` answered `{method}` with an error: {reason}")]
    Call {
        plugin: String,
        method: &'static str,
        reason: String,
        /// It answered that it has no such method (`-32601`).
        not_implemented: bool,
    },
    #[error(
        "plugin `{plugin}` answered `{method}` with something that is not its result: {reason}"
    )]
    Malformed {
        plugin: String,
        method: &'static str,
        reason: String,
    },
}

/// Asks the plugin whether `values` are fine (after the JSON Schema accepted them).
pub async fn validate(
    host: &PluginHost,
    plugin: &str,
    tenant: Option<&str>,
    values: Value,
    timeout: Duration,
) -> Result<ConfigValidateResult, ConfigCallError> {
    let answer = match call(
        host,
        plugin,
        methods::CONFIG_VALIDATE,
        tenant,
        values,
        timeout,
    )
    .await
    {
        // A plugin without the method takes what its schema takes (protocol.md).
        Err(ConfigCallError::Call {
            not_implemented: true,
            ..
        }) => {
            return Ok(ConfigValidateResult {
                valid: true,
                errors: Vec::new(),
            })
        }
        answer => answer?,
    };
    serde_json::from_value(answer).map_err(|error| ConfigCallError::Malformed {
        plugin: plugin.to_owned(),
        method: methods::CONFIG_VALIDATE,
        reason: error.to_string(),
    })
}

/// Runs the plugin's test of `values` (for example, a login with the credentials).
pub async fn test(
    host: &PluginHost,
    plugin: &str,
    tenant: Option<&str>,
    values: Value,
    timeout: Duration,
) -> Result<ConfigTestResult, ConfigCallError> {
    let answer = call(host, plugin, methods::CONFIG_TEST, tenant, values, timeout).await?;
    serde_json::from_value(answer).map_err(|error| ConfigCallError::Malformed {
        plugin: plugin.to_owned(),
        method: methods::CONFIG_TEST,
        reason: error.to_string(),
    })
}

async fn call(
    host: &PluginHost,
    plugin: &str,
    method: &'static str,
    tenant: Option<&str>,
    values: Value,
    timeout: Duration,
) -> Result<Value, ConfigCallError> {
    let supervisor = host
        .supervisor(plugin)
        .ok_or_else(|| ConfigCallError::NotLoaded(plugin.to_owned()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let ready = loop {
        if let Some(ready) = supervisor.pick() {
            break ready;
        }
        if let Some(reason) = supervisor.failure() {
            return Err(ConfigCallError::Failed {
                plugin: plugin.to_owned(),
                reason,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ConfigCallError::NotReady {
                plugin: plugin.to_owned(),
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let params = ConfigParams {
        tenant: tenant.map(str::to_owned),
        values,
    };
    let failed = |reason: String| ConfigCallError::Call {
        plugin: plugin.to_owned(),
        method,
        reason,
        not_implemented: false,
    };
    let (_, answer) = ready
        .rpc
        .send_request(method, &params)
        .map_err(|error| failed(error.to_string()))?;
    match tokio::time::timeout_at(deadline, answer).await {
        Err(_) => Err(ConfigCallError::NoAnswer {
            plugin: plugin.to_owned(),
            method,
            timeout,
        }),
        Ok(Err(_)) => Err(failed("the connection closed".to_owned())),
        Ok(Ok(Err(super::rpc::RpcError::Remote(error))))
            if error.code == plugboard_protocol::error::METHOD_NOT_FOUND =>
        {
            Err(ConfigCallError::Call {
                plugin: plugin.to_owned(),
                method,
                reason: error.message,
                not_implemented: true,
            })
        }
        Ok(Ok(Err(error))) => Err(failed(error.to_string())),
        Ok(Ok(Ok(value))) => Ok(value),
    }
}
