//! The host's requests that run as tasks of their own, one [`Handler`] per method: how its
//! params name the tenant, and which [`Plugin`] method answers it.

use std::future::Future;

use plugboard_protocol::methods::{
    ConfigParams, HttpParams, RunParams, RunResult, ToolsCallParams, CONFIG_TEST, CONFIG_VALIDATE,
    HTTP, RUN, TOOLS_CALL,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::Context;
use crate::errors::PluginError;
use crate::plugin::Plugin;

/// A method's params, and how the plugin answers them.
pub(crate) trait Handler: DeserializeOwned + Send + 'static {
    /// What the answer serialises from.
    type Output: Serialize + Send + 'static;

    /// The tenant the request acts for, which its context's kv and emit calls use.
    fn tenant(&self) -> Option<String>;

    /// Calls the plugin.
    fn call<P: Plugin>(
        self,
        plugin: &P,
        ctx: Context,
    ) -> impl Future<Output = Result<Self::Output, PluginError>> + Send;
}

/// `config/validate` and `config/test` share their params; the method tells them apart.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct ConfigTest(ConfigParams);

/// The method names whose requests run as tasks.
pub(crate) const TASK_METHODS: [&str; 5] = [RUN, CONFIG_VALIDATE, CONFIG_TEST, TOOLS_CALL, HTTP];

impl Handler for RunParams {
    type Output = RunResult;

    fn tenant(&self) -> Option<String> {
        self.tenant.clone()
    }

    async fn call<P: Plugin>(self, plugin: &P, ctx: Context) -> Result<RunResult, PluginError> {
        let result = plugin.run(ctx, self).await?;
        Ok(RunResult { result })
    }
}

impl Handler for ConfigParams {
    type Output = plugboard_protocol::methods::ConfigValidateResult;

    fn tenant(&self) -> Option<String> {
        self.tenant.clone()
    }

    fn call<P: Plugin>(
        self,
        plugin: &P,
        ctx: Context,
    ) -> impl Future<Output = Result<Self::Output, PluginError>> + Send {
        plugin.validate_config(ctx, self)
    }
}

impl Handler for ConfigTest {
    type Output = plugboard_protocol::methods::ConfigTestResult;

    fn tenant(&self) -> Option<String> {
        self.0.tenant.clone()
    }

    fn call<P: Plugin>(
        self,
        plugin: &P,
        ctx: Context,
    ) -> impl Future<Output = Result<Self::Output, PluginError>> + Send {
        plugin.test_config(ctx, self.0)
    }
}

impl Handler for ToolsCallParams {
    type Output = plugboard_protocol::methods::ToolsCallResult;

    fn tenant(&self) -> Option<String> {
        self.tenant.clone()
    }

    fn call<P: Plugin>(
        self,
        plugin: &P,
        ctx: Context,
    ) -> impl Future<Output = Result<Self::Output, PluginError>> + Send {
        plugin.call_tool(ctx, self)
    }
}

impl Handler for HttpParams {
    type Output = plugboard_protocol::methods::HttpResult;

    fn tenant(&self) -> Option<String> {
        self.tenant.clone()
    }

    fn call<P: Plugin>(
        self,
        plugin: &P,
        ctx: Context,
    ) -> impl Future<Output = Result<Self::Output, PluginError>> + Send {
        plugin.http(ctx, self)
    }
}
