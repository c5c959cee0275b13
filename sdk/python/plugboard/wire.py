"""JSON-RPC 2.0 envelopes on the wire: one message per line, decoded and encoded.

Owns: method names, :data:`MAX_LINE_BYTES`, the three message kinds (:class:`Request`,
:class:`Notification`, :class:`Response`), :func:`decode` (the same rules as the Rust
``Message::decode``: never raises anything but :class:`DecodeError`) and the encoders, which
produce one ``\\n``-terminated UTF-8 line of compact JSON.

Must not touch: pipes, threads or the event loop; the transport moves the bytes this module
makes.
"""

import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Dict, List, NamedTuple, Optional, Union

PROTOCOL_VERSION = 1
"""The plugin protocol version this SDK speaks."""
JSONRPC_VERSION = "2.0"
MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line either side must accept; a longer one is discarded and reported."""

# Host -> plugin.
INITIALIZE = "initialize"
RUN = "run"
CANCEL = "cancel"
CONFIG_VALIDATE = "config/validate"
CONFIG_TEST = "config/test"
HTTP = "http"
TOOLS_CALL = "tools/call"
PING = "ping"
SHUTDOWN = "shutdown"
# Plugin -> host.
LOG = "log"
PROGRESS = "progress"
KV_GET = "kv/get"
KV_SET = "kv/set"
KV_DELETE = "kv/delete"
KV_LIST = "kv/list"
EMIT = "emit"

RequestId = Union[int, str]
"""A request id: an integer or a string. The host always sends integers."""

Params = Union[Dict[str, Any], List[Any], None]


# The hot path's JSON, from the standard library's C accelerator when it has one. json.loads and
# json.dumps would do the same but build their decoder and encoder objects on every call.
_DECODER = json.JSONDecoder()
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
if c_make_encoder is not None:
    # One C encoder for every message. Without the table of objects being encoded it keeps no
    # state between calls (so threads may share it); a value that contains itself then ends in
    # RecursionError, which _line hands to json.dumps for its usual error.
    _c_encoder = c_make_encoder(
        None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )

    def _encode(message: Dict[str, Any]) -> str:
        return "".join(_c_encoder(message, 0))

else:  # an interpreter without the accelerator

    def _encode(message: Dict[str, Any]) -> str:
        return _ENCODER.encode(message)


def _parse(text: str) -> Any:
    """``json.loads(text)``, quicker for the usual line: one JSON value with nothing around it."""
    try:
        value, end = _DECODER.scan_once(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):
        pass  # not JSON from its first character
    return json.loads(text)  # spaces around the value, or not JSON: json.loads decides


class Request(NamedTuple):
    """A call that expects a response with the same id."""

    id: RequestId
    method: str
    params: Params


class Notification(NamedTuple):
    """A message that expects no response."""

    method: str
    params: Params


class Response(NamedTuple):
    """The answer to a request: ``result`` or ``error``, never both."""

    id: RequestId
    result: Any
    error: Optional[Dict[str, Any]]


Message = Union[Request, Notification, Response]


class DecodeError(Exception):
    """A line that is not a valid message. ``id`` is set when the line was a request whose id
    could be read, so the receiver can answer it with an error."""

    def __init__(self, reason: str, id: Optional[RequestId] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.id = id


def is_request_id(value: Any) -> bool:
    """True for a valid id: a string, or an integer in the signed 64-bit range."""
    # bool is an int in Python but not a number in JSON-RPC; ids are 64-bit signed integers.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str)


def _check_error_object(error: Any) -> Dict[str, Any]:
    if not isinstance(error, dict):
        raise DecodeError("malformed error object: expected an object")
    code, message = error.get("code"), error.get("message")
    if isinstance(code, bool) or not isinstance(code, int):
        raise DecodeError("malformed error object: `code` must be an integer")
    if not isinstance(message, str):
        raise DecodeError("malformed error object: `message` must be a string")
    return error


def decode(line: Union[str, bytes]) -> Message:
    """Reads one line (with or without its ``\\n``).

    Raises :class:`DecodeError` for a line that is not UTF-8, not JSON, not an object, lacks
    ``"jsonrpc": "2.0"``, or is neither a request, a notification nor a response. As in the Rust
    decoder, a member whose value is ``null`` counts as absent, except ``result``: a response
    with ``"result": null`` is a successful answer.
    """
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        raw = _parse(text)
    except ValueError as problem:  # JSONDecodeError and UnicodeDecodeError
        raise DecodeError(f"not a JSON-RPC message: {problem}") from None
    except RecursionError:
        raise DecodeError("not a JSON-RPC message: nested too deeply") from None
    if not isinstance(raw, dict):
        raise DecodeError(f"not a JSON-RPC message: expected an object, got {type(raw).__name__}")
    id_value = raw.get("id")
    if id_value is not None and not is_request_id(id_value):
        raise DecodeError("the id must be a number or a string")
    method = raw.get("method")
    # Only a request's id is worth answering with an error; a broken response is just logged.
    request_id = id_value if method is not None else None
    if raw.get("jsonrpc") != JSONRPC_VERSION:
        raise DecodeError('the message lacks "jsonrpc": "2.0"', request_id)
    params = raw.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        raise DecodeError("params must be an object", request_id)
    has_result, error = "result" in raw, raw.get("error")
    if method is not None:
        if not isinstance(method, str):
            raise DecodeError("the method must be a string", request_id)
        if has_result or error is not None:
            raise DecodeError("a request cannot carry a result or an error", request_id)
        if id_value is None:
            return Notification(method, params)
        return Request(id_value, method, params)
    if id_value is None:
        raise DecodeError("a message needs a method (request) or an id (response)")
    if error is not None:
        error = _check_error_object(error)
    if has_result and error is not None:
        raise DecodeError("a response cannot carry both a result and an error")
    if not has_result and error is None:
        raise DecodeError("a response needs a result or an error")
    return Response(id_value, raw.get("result"), error)


def _line(message: Dict[str, Any]) -> bytes:
    # Compact, UTF-8, no NaN (the host's JSON parser rejects it): a ValueError here names the
    # offending value for the plugin author.
    try:
        text = _encode(message)
    except RecursionError:
        # Nested too deeply, or a value that contains itself: json.dumps tells which, as before.
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


def encode_request(id: RequestId, method: str, params: Dict[str, Any]) -> bytes:
    """One line carrying a request."""
    return _line({"jsonrpc": JSONRPC_VERSION, "id": id, "method": method, "params": params})


def encode_notification(method: str, params: Dict[str, Any]) -> bytes:
    """One line carrying a notification."""
    return _line({"jsonrpc": JSONRPC_VERSION, "method": method, "params": params})


def encode_result(id: RequestId, result: Any) -> bytes:
    """One line carrying a successful response.

    Raises ``TypeError`` or ``ValueError`` when ``result`` is not JSON.
    """
    return _line({"jsonrpc": JSONRPC_VERSION, "id": id, "result": result})


def encode_error(id: RequestId, error: Dict[str, Any]) -> bytes:
    """One line carrying a failed response; ``error`` is ``{code, message, data?}``."""
    return _line({"jsonrpc": JSONRPC_VERSION, "id": id, "error": error})
