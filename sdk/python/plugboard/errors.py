"""Error codes and the exceptions a plugin raises or receives.

Owns: the protocol's error codes (mirroring ``crates/plugboard-protocol/src/error.rs``) and the
exception classes that turn into JSON-RPC error objects. A handler that raises a
:class:`PluginError` (or one of its subclasses) answers with that error's code and data; any other
exception answers :data:`JOB_FAILED` with the exception's message.

Must not touch: I/O. These are plain classes.
"""

from typing import Any, Dict, Optional

PARSE_ERROR = -32700
"""The line was not JSON."""
INVALID_REQUEST = -32600
"""The JSON was not a valid request."""
METHOD_NOT_FOUND = -32601
"""The receiver does not implement the method."""
INVALID_PARAMS = -32602
"""The params do not fit the method."""
INTERNAL_ERROR = -32603
"""The receiver failed in a way that is its own fault."""
JOB_FAILED = -32000
"""The work failed; another attempt may succeed (unless ``data.retryable`` is false)."""
NOT_RETRYABLE = -32001
"""The work failed and will fail again: the host fails the job without retrying."""
CANCELLED = -32002
"""The work stopped because it was cancelled."""
UNSUPPORTED_PROTOCOL_VERSION = -32003
"""The plugin does not speak the host's protocol version."""
HOST_ERROR = -32010
"""A host service failed (the store could not be read or written); the plugin may retry."""
PERMISSION_DENIED = -32011
"""The plugin asked for something its manifest does not permit."""


class PluginError(Exception):
    """An error the plugin answers with a chosen JSON-RPC ``code`` and optional ``data``.

    Raise it directly for codes the SDK has no class for, for example
    ``PluginError("quota exhausted, try tomorrow", data={"retryable": False})``.
    """

    code: int = JOB_FAILED

    def __init__(
        self, message: str, *, code: Optional[int] = None, data: Optional[Any] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.data = data

    def to_error_object(self) -> Dict[str, Any]:
        """The JSON-RPC error object this exception answers with."""
        error: Dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class NotRetryable(PluginError):
    """The work failed and will fail again: the host fails the job without another attempt.

    Answers code -32001 with ``data: {"retryable": false}``.
    """

    code = NOT_RETRYABLE

    def __init__(self, message: str) -> None:
        super().__init__(message, data={"retryable": False})


class Cancelled(PluginError):
    """The work stopped because the host cancelled it. Answers code -32002.

    Raised by :meth:`plugboard.Context.check_cancelled`; a handler may raise it itself.
    """

    code = CANCELLED

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class InvalidParams(PluginError):
    """The params of a request do not fit its method. Answers code -32602.

    The message names the field, for example ``run: params.job.id must be an integer``.
    """

    code = INVALID_PARAMS

    def __init__(self, message: str) -> None:
        super().__init__(message)


class HostError(Exception):
    """The host answered one of the plugin's requests (``kv/*``, ``emit``) with an error.

    ``code`` is the host's code, for example :data:`HOST_ERROR` (the store failed; retrying may
    help) or :data:`PERMISSION_DENIED`. Uncaught in a handler, it fails the request with
    :data:`JOB_FAILED` and this message.
    """

    def __init__(self, method: str, code: int, message: str, data: Optional[Any] = None) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data
