//! Error objects and codes: JSON-RPC's own, and plugboard's.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The line was not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON was not a valid request.
pub const INVALID_REQUEST: i64 = -32600;
/// The receiver does not implement the method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The params do not fit the method.
pub const INVALID_PARAMS: i64 = -32602;
/// The receiver failed in a way that is its own fault.
pub const INTERNAL_ERROR: i64 = -32603;
/// The work failed; another attempt may succeed (unless `data.retryable` is `false`).
pub const JOB_FAILED: i64 = -32000;
/// The work failed and will fail again: the host fails the job without retrying.
pub const NOT_RETRYABLE: i64 = -32001;
/// The work stopped because it was cancelled.
pub const CANCELLED: i64 = -32002;
/// The plugin does not speak the host's protocol version.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32003;
/// A host service failed (the store could not be read or written); the plugin may retry.
pub const HOST_ERROR: i64 = -32010;
/// The plugin asked for something its manifest does not permit.
pub const PERMISSION_DENIED: i64 = -32011;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// One of the codes in this module, or another JSON-RPC code.
    pub code: i64,
    /// What went wrong, for a person: it ends up in the job's error.
    pub message: String,
    /// Anything else; `{"retryable": false}` makes any error final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// A failure another attempt may fix.
    pub fn job_failed(message: impl Into<String>) -> ErrorObject {
        ErrorObject::new(JOB_FAILED, message)
    }

    /// A failure that will repeat: no more attempts.
    pub fn not_retryable(message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code: NOT_RETRYABLE,
            message: message.into(),
            data: Some(json!({"retryable": false})),
        }
    }

    /// Whether another attempt may succeed: false for [`NOT_RETRYABLE`], for errors whose
    /// `data.retryable` is `false`, for errors the same call would meet again (params, method,
    /// version, permission) and for [`CANCELLED`]; true otherwise.
    pub fn is_retryable(&self) -> bool {
        if let Some(retryable) = self
            .data
            .as_ref()
            .and_then(|data| data.get("retryable"))
            .and_then(Value::as_bool)
        {
            return retryable;
        }
        !matches!(
            self.code,
            NOT_RETRYABLE
                | INVALID_PARAMS
                | METHOD_NOT_FOUND
                | UNSUPPORTED_PROTOCOL_VERSION
                | PERMISSION_DENIED
                | CANCELLED
        )
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}
