"""HTTP routes: the proxied request a plugin's ``http`` handler receives and what it answers.

Owns: :class:`HttpRequest` and :class:`HttpResponse`, and their wire form (bodies are base64,
standard alphabet with padding; header names in lower case).

Must not touch: sockets. The host does the HTTP; this is one request and one response as data.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import InvalidParams
from .params import Fields


@dataclass(frozen=True)
class HttpRequest:
    """A request to one of the plugin's routes; ``path`` is below ``/plugins/{id}``."""

    method: str
    path: str
    query: str = ""
    """The raw query string, without ``?``."""
    headers: Dict[str, str] = field(default_factory=dict)
    """Header names in lower case."""
    body: bytes = b""
    tenant: Optional[str] = None
    """The caller's tenant: on ``tenant`` routes, and the config's on webhook deliveries."""
    route: str = ""
    """The route's path as the metadata declares it (``/items/{id}``): which route matched."""
    params: Dict[str, str] = field(default_factory=dict)
    """The values of the route's ``{name}`` segments, percent-decoded."""
    access: str = "public"
    """What the host checked: ``public``, ``read``, ``write``, ``admin`` or ``webhook``."""
    config: Optional["WebhookConfig"] = None
    """On webhook deliveries: the config whose address was called, its secrets opened."""

    def header(self, name: str) -> Optional[str]:
        """A request header by name, in any case."""
        return self.headers.get(name.lower())

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def query_params(self) -> Dict[str, List[str]]:
        """The query string parsed, each name with all its values."""
        from urllib.parse import parse_qs

        return parse_qs(self.query, keep_blank_values=True)


@dataclass(frozen=True)
class WebhookConfig:
    """The config a webhook delivery is for."""

    id: str
    name: str
    values: Dict[str, Any]


@dataclass(frozen=True)
class HttpResponse:
    """The answer to an :class:`HttpRequest`."""

    status: int = 200
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> "HttpResponse":
        """A text answer."""
        return cls(status, {"content-type": content_type}, text.encode("utf-8"))

    @classmethod
    def json(cls, value: Any, status: int = 200) -> "HttpResponse":
        """A JSON answer."""
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, {"content-type": "application/json"}, body)


def read_http_params(params: Any) -> HttpRequest:
    """Reads the params of ``http``; a body that is not base64 is an :class:`InvalidParams`."""
    import base64
    import binascii

    fields = Fields(params, "http: params")
    try:
        body = base64.b64decode(fields.optional_string("body", "") or "", validate=True)
    except binascii.Error as error:
        raise InvalidParams(f"http: params.body is not base64: {error}") from None
    return HttpRequest(
        method=fields.string("method"),
        path=fields.string("path"),
        query=fields.optional_string("query", "") or "",
        headers=fields.string_map("headers"),
        body=body,
        tenant=fields.optional_string("tenant"),
        route=fields.optional_string("route", "") or "",
        params=fields.string_map("params"),
        access=fields.optional_string("access", "public") or "public",
        config=_read_config(params.get("config")),
    )


def _read_config(value: Any) -> Optional[WebhookConfig]:
    if value is None:
        return None
    fields = Fields(value, "http: params.config")
    values = value.get("values")
    if not isinstance(values, dict):
        raise InvalidParams("http: params.config.values must be an object")
    return WebhookConfig(id=fields.string("id"), name=fields.string("name"), values=values)


def http_result(returned: HttpResponse) -> Dict[str, Any]:
    """The ``http`` result for what the handler returned."""
    import base64

    if not isinstance(returned, HttpResponse):
        raise TypeError(f"http must return an HttpResponse, got {returned!r}")
    if not 100 <= returned.status <= 999:
        raise ValueError(f"http returned status {returned.status}; use 100 to 999")
    return {
        "status": returned.status,
        "headers": dict(returned.headers),
        "body": base64.b64encode(returned.body).decode("ascii"),
    }
