//! [`Context`]: what a request's handler knows and can ask of the host.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use plugboard_protocol::methods::{
    EmitParams, EmitResult, KvDeleteResult, KvGetResult, KvKeyParams, KvListParams, KvListResult,
    KvSetParams, LogLevel, LogParams, ProgressParams, EMIT, KV_DELETE, KV_GET, KV_LIST, KV_SET,
    LOG, PROGRESS,
};
use plugboard_protocol::Id;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use serde_json::Value;

use crate::cancel::CancelToken;
use crate::errors::{HostError, PluginError};
use crate::request::Link;

/// One request's view of the host: its id, its tenant, its cancellation, log lines and progress
/// (notifications, sent without waiting), and calls to the host's services (requests, awaited).
///
/// Cheap to clone; clones share the cancellation. Key-value storage and `emit` act for
/// [`Context::tenant`], the tenant of the request; [`Context::with_tenant`] changes that.
#[derive(Clone)]
pub struct Context {
    request_id: Id,
    tenant: Option<String>,
    cancel: CancelToken,
    link: Arc<Link>,
}

impl Context {
    pub(crate) fn new(
        request_id: Id,
        tenant: Option<String>,
        cancel: CancelToken,
        link: Arc<Link>,
    ) -> Context {
        Context {
            request_id,
            tenant,
            cancel,
            link,
        }
    }

    /// The id of the host's request this context belongs to.
    pub fn request_id(&self) -> &Id {
        &self.request_id
    }

    /// The tenant the request is for, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The same context acting for another tenant (`None`: the plugin's own, tenant-less kv
    /// values).
    pub fn with_tenant(&self, tenant: Option<&str>) -> Context {
        Context {
            tenant: tenant.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The plugin's own writable directory, as the host sent it in `initialize`.
    pub fn data_dir(&self) -> Option<&Path> {
        self.link.data_dir()
    }

    /// True once the host has cancelled the request.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Why the host cancelled the request (the `cancel` notification's `reason`, or a default
    /// when it gave none); `None` while it has not.
    pub fn cancel_reason(&self) -> Option<&str> {
        self.cancel.reason()
    }

    /// Completes when the request is cancelled; use it in `tokio::select!` beside the work.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Runs `work` until it completes or the request is cancelled, whichever comes first; on
    /// cancellation `work` is dropped where it was waiting.
    ///
    /// # Errors
    /// [`PluginError::cancelled_because`] the host's reason, when the request was cancelled
    /// first.
    pub async fn until_cancelled<F: Future>(&self, work: F) -> Result<F::Output, PluginError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(match self.cancel.reason() {
                Some(reason) => PluginError::cancelled_because(reason),
                None => PluginError::cancelled(),
            }),
            output = work => Ok(output),
        }
    }

    /// Sends a log line for this request (a `log` notification with its `requestId`; for a `run`
    /// it becomes a line of the job's log). Does not wait.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.link.outbox.notify(
            LOG,
            &LogParams {
                level,
                message: message.into(),
                request_id: Some(self.request_id.clone()),
            },
        );
    }

    /// [`Context::log`] at `debug`.
    pub fn debug(&self, message: impl Into<String>) {
        self.log(LogLevel::Debug, message);
    }

    /// [`Context::log`] at `info`.
    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message);
    }

    /// [`Context::log`] at `warn`.
    pub fn warn(&self, message: impl Into<String>) {
        self.log(LogLevel::Warn, message);
    }

    /// [`Context::log`] at `error`.
    pub fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message);
    }

    /// Reports progress: `progress` of `total` (or a growing number without it), with what is
    /// happening now. Does not wait.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        self.link.outbox.notify(
            PROGRESS,
            &ProgressParams {
                request_id: self.request_id.clone(),
                progress,
                total,
                message: message.map(str::to_owned),
            },
        );
    }

    /// Reads the value stored under `key` (1 to 512 bytes) for the tenant; `None` when there is
    /// none.
    ///
    /// # Errors
    /// See [`HostError`].
    pub async fn kv_get(&self, key: &str) -> Result<Option<Value>, HostError> {
        let result: KvGetResult = self.call_host(KV_GET, self.key_params(key)).await?;
        Ok(result.value)
    }

    /// Stores `value` (any JSON up to 1 MiB encoded) under `key` for the tenant.
    ///
    /// # Errors
    /// See [`HostError`]; a value too large is [`HostError::Rejected`] with invalid params.
    pub async fn kv_set(&self, key: &str, value: impl Into<Value>) -> Result<(), HostError> {
        let params = KvSetParams {
            tenant: self.tenant.clone(),
            key: key.to_owned(),
            value: value.into(),
        };
        let IgnoredAny = self.call_host(KV_SET, params).await?;
        Ok(())
    }

    /// Deletes the value under `key` for the tenant; true when there was one.
    ///
    /// # Errors
    /// See [`HostError`].
    pub async fn kv_delete(&self, key: &str) -> Result<bool, HostError> {
        let result: KvDeleteResult = self.call_host(KV_DELETE, self.key_params(key)).await?;
        Ok(result.deleted)
    }

    /// Lists the tenant's values whose keys start with `prefix`, in key order, one page at a
    /// time (up to 1000): pass the page's `next_cursor` as `cursor` for the next.
    ///
    /// # Errors
    /// See [`HostError`].
    pub async fn kv_list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KvListResult, HostError> {
        let params = KvListParams {
            tenant: self.tenant.clone(),
            prefix: prefix.to_owned(),
            cursor: cursor.map(str::to_owned),
            limit: None,
        };
        self.call_host(KV_LIST, params).await
    }

    /// Raises an event of `event_type` for the tenant; returns the stored event's id.
    ///
    /// # Errors
    /// [`HostError::InvalidCall`] when the request has no tenant (use [`Context::emit_with`]);
    /// otherwise see [`HostError`].
    pub async fn emit(&self, event_type: &str, payload: Value) -> Result<String, HostError> {
        let Some(tenant) = self.tenant.clone() else {
            return Err(HostError::InvalidCall {
                method: EMIT.to_owned(),
                reason:
                    "this request has no tenant to raise the event for; name one with emit_with"
                        .to_owned(),
            });
        };
        self.emit_with(EmitParams {
            tenant,
            event_type: event_type.to_owned(),
            payload,
            idempotency_key: None,
        })
        .await
    }

    /// Raises an event with every field chosen by the caller (tenant, idempotency key).
    ///
    /// # Errors
    /// See [`HostError`].
    pub async fn emit_with(&self, params: EmitParams) -> Result<String, HostError> {
        let result: EmitResult = self.call_host(EMIT, params).await?;
        Ok(result.event_id)
    }

    /// Calls any host method and reads its result as `R`: the typed calls above are this with
    /// the protocol's params and results.
    ///
    /// # Errors
    /// See [`HostError`].
    pub async fn call_host<R: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize + Send + Sync,
    ) -> Result<R, HostError> {
        self.link
            .host_calls
            .call(&self.link.outbox, method, &params)
            .await
    }

    fn key_params(&self, key: &str) -> KvKeyParams {
        KvKeyParams {
            tenant: self.tenant.clone(),
            key: key.to_owned(),
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.request_id)
            .field("tenant", &self.tenant)
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}
