//! The SDK's errors: [`PluginError`] (a request failed; it becomes the error the host sees),
//! [`HostError`] (a call to the host failed) and [`ServeError`] (the stdio loop stopped).

use plugboard_protocol::error::{CANCELLED, INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND};
use plugboard_protocol::ErrorObject;
use serde_json::Value;

/// Why a request failed, as the host will see it: a JSON-RPC error object with one of the
/// protocol's codes. Use `?` on a [`HostError`] to turn a failed host call into one.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    error: ErrorObject,
}

/// Why a call to the host (`kv/*`, `emit`, [`crate::Context::call_host`]) failed. None of
/// these panics; each names the method.
#[derive(Debug, Clone, PartialEq)]
pub enum HostError {
    /// The host answered with an error, for example [`crate::error::HOST_ERROR`] (the store is
    /// down; try again) or [`crate::error::PERMISSION_DENIED`].
    Rejected {
        /// The method called.
        method: String,
        /// The host's error.
        error: ErrorObject,
    },
    /// The connection to the host closed (or the loop stopped) before the answer came.
    Disconnected {
        /// The method called.
        method: String,
    },
    /// The call could not be made as asked: params that do not serialise to JSON, or an `emit`
    /// from a request without a tenant.
    InvalidCall {
        /// The method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// The host's answer does not have the shape the method's result has.
    InvalidAnswer {
        /// The method called.
        method: String,
        /// What did not fit.
        reason: String,
    },
}

/// Why [`crate::serve`] stopped other than by `shutdown` or the end of its input.
#[derive(Debug)]
pub enum ServeError {
    /// The tokio runtime could not be built ([`crate::serve_blocking`]).
    Runtime(std::io::Error),
    /// Reading the host's messages (stdin) failed.
    Read(std::io::Error),
    /// Writing to the host (stdout) failed, usually because the host is gone.
    Write(std::io::Error),
}

impl PluginError {
    /// A failure another attempt may fix (code [`crate::error::JOB_FAILED`]): the host retries the job with
    /// backoff until its last attempt.
    pub fn retryable(message: impl Into<String>) -> PluginError {
        PluginError {
            error: ErrorObject::job_failed(message),
        }
    }

    /// A failure that will repeat (code [`crate::error::NOT_RETRYABLE`], `data.retryable` false):
    /// the host fails the job without another attempt. Say what to change: `the config's name is
    /// empty; set name`.
    pub fn not_retryable(message: impl Into<String>) -> PluginError {
        PluginError {
            error: ErrorObject::not_retryable(message),
        }
    }

    /// The request stopped because the host cancelled it (code [`CANCELLED`]). Prefer
    /// [`PluginError::cancelled_because`] with [`crate::Context::cancel_reason`], which tells the
    /// job's history why.
    pub fn cancelled() -> PluginError {
        PluginError::new(CANCELLED, "cancelled: the host cancelled the request")
    }

    /// The request stopped because the host cancelled it, for `reason` (the `cancel`
    /// notification's): `cancelled: the job was cancelled by an admin`.
    pub fn cancelled_because(reason: &str) -> PluginError {
        PluginError::new(CANCELLED, format!("cancelled: {reason}"))
    }

    /// The params do not fit (code [`INVALID_PARAMS`]), for example an unknown tool.
    pub fn invalid_params(message: impl Into<String>) -> PluginError {
        PluginError::new(INVALID_PARAMS, message)
    }

    /// The plugin does not implement `method` (code [`METHOD_NOT_FOUND`]).
    pub fn method_not_found(method: &str) -> PluginError {
        PluginError::new(
            METHOD_NOT_FOUND,
            format!("method `{method}` is not implemented by this plugin"),
        )
    }

    /// An error with any code, for example one of [`crate::error`].
    pub fn new(code: i64, message: impl Into<String>) -> PluginError {
        PluginError {
            error: ErrorObject::new(code, message),
        }
    }

    /// The same error with `data` (an object; `{"retryable": false}` makes any error final).
    pub fn with_data(mut self, data: Value) -> PluginError {
        self.error.data = Some(data);
        self
    }

    /// The code.
    pub fn code(&self) -> i64 {
        self.error.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.error.message
    }

    /// Whether the host will try again (see [`ErrorObject::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.error.is_retryable()
    }

    /// The error object as it goes on the wire.
    pub fn error_object(&self) -> &ErrorObject {
        &self.error
    }
}

impl From<ErrorObject> for PluginError {
    fn from(error: ErrorObject) -> PluginError {
        PluginError { error }
    }
}

impl From<PluginError> for ErrorObject {
    fn from(error: PluginError) -> ErrorObject {
        error.error
    }
}

/// A failed host call fails the request: the host's own error keeps its code and data (so a
/// [`crate::error::HOST_ERROR`] stays retryable), with the method put in front of its message; a
/// lost connection is retryable; a call the SDK could not make, or an answer it could not read,
/// is the plugin's fault and final.
impl From<HostError> for PluginError {
    fn from(error: HostError) -> PluginError {
        let message = error.to_string();
        match error {
            HostError::Rejected { error, .. } => PluginError {
                error: ErrorObject {
                    code: error.code,
                    message,
                    data: error.data,
                },
            },
            HostError::Disconnected { .. } => PluginError::retryable(message),
            HostError::InvalidCall { .. } => PluginError::not_retryable(message),
            HostError::InvalidAnswer { .. } => PluginError::new(INTERNAL_ERROR, message),
        }
    }
}

impl HostError {
    /// The method whose call failed.
    pub fn method(&self) -> &str {
        match self {
            HostError::Rejected { method, .. }
            | HostError::Disconnected { method }
            | HostError::InvalidCall { method, .. }
            | HostError::InvalidAnswer { method, .. } => method,
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for PluginError {}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Rejected { method, error } => write!(f, "{method}: {}", error.message),
            HostError::Disconnected { method } => {
                write!(
                    f,
                    "{method}: the connection to the host closed before it answered"
                )
            }
            HostError::InvalidCall { method, reason } => write!(f, "{method}: {reason}"),
            HostError::InvalidAnswer { method, reason } => {
                write!(f, "{method}: the host's answer does not fit: {reason}")
            }
        }
    }
}

impl std::error::Error for HostError {}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Runtime(error) => write!(f, "could not start the tokio runtime: {error}"),
            ServeError::Read(error) => write!(f, "reading the host's messages failed: {error}"),
            ServeError::Write(error) => write!(f, "writing to the host failed: {error}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Runtime(error) | ServeError::Read(error) | ServeError::Write(error) => {
                Some(error)
            }
        }
    }
}
