//! The trait a plugin implements.

use std::future::Future;

use plugboard_protocol::methods::{
    ConfigParams, ConfigTestResult, ConfigValidateResult, HttpParams, HttpResult, PluginInfo,
    RunParams, ToolsCallParams, ToolsCallResult, CONFIG_TEST, HTTP, TOOLS_CALL,
};
use plugboard_protocol::Metadata;
use serde_json::Value;

use crate::context::Context;
use crate::errors::PluginError;

/// A plugin: who it is, what it offers, and how it answers the host's requests.
///
/// Write the request methods as `async fn` in the `impl`; their futures must be `Send`, because
/// each request runs as its own task on a multi-threaded runtime. One value serves every request,
/// several at once, so it is shared (`&self`): keep mutable state behind a lock or an atomic.
///
/// Every request method gets a [`Context`] for that request: its id, its tenant, its
/// cancellation, and the calls to the host (log, progress, kv, emit).
pub trait Plugin: Send + Sync + 'static {
    /// Who the plugin is, as it answers `initialize`. `id` and `version` must equal the
    /// manifest's.
    fn info(&self) -> PluginInfo;

    /// What the plugin offers (config schema, events, schedule, routes, UI, tools), as it answers
    /// `initialize`. Default: nothing.
    fn metadata(&self) -> Metadata {
        Metadata::default()
    }

    /// Runs one attempt of a job. The value is stored as the job's result.
    ///
    /// # Errors
    /// [`PluginError::retryable`] to try again later, [`PluginError::not_retryable`] to fail the
    /// job now, [`PluginError::cancelled`] after [`Context::cancelled`].
    fn run(
        &self,
        ctx: Context,
        params: RunParams,
    ) -> impl Future<Output = Result<Option<Value>, PluginError>> + Send;

    /// Checks a config's values beyond what the JSON Schema says (`config/validate`).
    /// Default: valid.
    ///
    /// # Errors
    /// Only when the check itself fails; invalid values are a result with `valid: false`.
    fn validate_config(
        &self,
        ctx: Context,
        params: ConfigParams,
    ) -> impl Future<Output = Result<ConfigValidateResult, PluginError>> + Send {
        let _ = (ctx, params);
        async {
            Ok(ConfigValidateResult {
                valid: true,
                errors: Vec::new(),
            })
        }
    }

    /// Tries a config for real, for example connects with its credentials (`config/test`).
    ///
    /// # Errors
    /// Default: method not found, which the host shows as "this plugin has no config test".
    fn test_config(
        &self,
        ctx: Context,
        params: ConfigParams,
    ) -> impl Future<Output = Result<ConfigTestResult, PluginError>> + Send {
        let _ = (ctx, params);
        async { Err(PluginError::method_not_found(CONFIG_TEST)) }
    }

    /// Calls one of the tools listed in [`Plugin::metadata`] (`tools/call`). A tool that fails
    /// answers `is_error: true` with the reason as content; an unknown tool is
    /// [`PluginError::invalid_params`].
    ///
    /// # Errors
    /// Default: method not found.
    fn call_tool(
        &self,
        ctx: Context,
        params: ToolsCallParams,
    ) -> impl Future<Output = Result<ToolsCallResult, PluginError>> + Send {
        let _ = (ctx, params);
        async { Err(PluginError::method_not_found(TOOLS_CALL)) }
    }

    /// Answers a request to one of the routes listed in [`Plugin::metadata`] (`http`).
    ///
    /// # Errors
    /// Default: method not found.
    fn http(
        &self,
        ctx: Context,
        params: HttpParams,
    ) -> impl Future<Output = Result<HttpResult, PluginError>> + Send {
        let _ = (ctx, params);
        async { Err(PluginError::method_not_found(HTTP)) }
    }
}
