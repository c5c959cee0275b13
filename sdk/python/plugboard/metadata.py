"""Runtime metadata: what a plugin declares when it answers ``initialize``.

Owns: the :class:`Metadata` shape (wire names, as in ``metadata.rs``: ``configSchema``,
``intervalSeconds``, ``inputSchema``) and :func:`normalize_metadata`, which checks what a
plugin's ``metadata()`` returned and fills in the defaults the Rust type serialises (empty
lists), so that a mistake such as ``config_schema`` fails at the handshake with a message
instead of being silently ignored by the host.

Must not touch: I/O.
"""

from typing import Any, Dict, List, Mapping, Tuple, TypedDict


class Schedule(TypedDict, total=False):
    """When a config runs by default: a cron expression with seconds, or an interval."""

    cron: str
    intervalSeconds: int


class Route(TypedDict):
    """An HTTP route mounted under ``/plugins/{id}``; ``auth`` is public, tenant or admin."""

    method: str
    path: str
    auth: str


class UiContribution(TypedDict):
    """A console page served by one of the plugin's ``GET`` routes."""

    id: str
    title: str
    path: str


class ToolAnnotations(TypedDict, total=False):
    """What a tool does to the world, as MCP's hints (a read-only token sees only tools with
    ``readOnlyHint: True``)."""

    title: str
    readOnlyHint: bool
    destructiveHint: bool
    idempotentHint: bool
    openWorldHint: bool


class Tool(TypedDict, total=False):
    """A tool for agents (MCP's tool definition): ``title``, ``outputSchema`` (the JSON Schema
    of its ``structured`` answer) and ``annotations`` are optional."""

    name: str
    description: str
    inputSchema: Dict[str, Any]
    title: str
    outputSchema: Dict[str, Any]
    annotations: ToolAnnotations


class Metadata(TypedDict, total=False):
    """Everything a plugin declares at run time; every key is optional."""

    configSchema: Dict[str, Any]
    events: List[str]
    schedule: Schedule
    routes: List[Route]
    ui: List[UiContribution]
    tools: List[Tool]


class MetadataError(ValueError):
    """What a plugin's ``metadata()`` returned does not fit the protocol."""


_KEYS = ("configSchema", "events", "schedule", "routes", "ui", "tools")
_SNAKE_CASE = {
    "config_schema": "configSchema",
    "interval_seconds": "intervalSeconds",
    "input_schema": "inputSchema",
}
_ROUTE_AUTH = ("public", "tenant", "admin")


def _check_keys(value: Mapping[str, Any], allowed: Tuple[str, ...], where: str) -> None:
    for key in value:
        if key in allowed:
            continue
        hint = f"; did you mean {_SNAKE_CASE[key]!r}?" if key in _SNAKE_CASE else ""
        raise MetadataError(f"{where} has unknown key {key!r}{hint} (known: {', '.join(allowed)})")


def _list_of_objects(
    value: Any, where: str, keys: Tuple[str, ...], required: Tuple[str, ...]
) -> List[Dict[str, Any]]:
    if not isinstance(value, list):
        raise MetadataError(f"{where} must be a list")
    items = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise MetadataError(f"{here} must be an object")
        _check_keys(item, keys, here)
        for key in required:
            if not isinstance(item.get(key), str) or not item[key]:
                raise MetadataError(f"{here}.{key} must be a non-empty string")
        items.append(dict(item))
    return items


def normalize_metadata(metadata: Any) -> Dict[str, Any]:
    """Checks ``metadata`` and returns it as the host will read it.

    Raises :class:`MetadataError` naming the first field that is wrong.
    """
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise MetadataError(f"metadata() must return a dict, got {type(metadata).__name__}")
    _check_keys(metadata, _KEYS, "metadata")
    result: Dict[str, Any] = {}
    schema = metadata.get("configSchema")
    if schema is not None:
        if not isinstance(schema, dict):
            raise MetadataError("metadata.configSchema must be a JSON Schema object")
        result["configSchema"] = schema
    events = metadata.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
        raise MetadataError("metadata.events must be a list of event types such as 'form.*'")
    result["events"] = list(events)
    schedule = metadata.get("schedule")
    if schedule is not None:
        if not isinstance(schedule, dict):
            raise MetadataError("metadata.schedule must be an object")
        _check_keys(schedule, ("cron", "intervalSeconds"), "metadata.schedule")
        interval = schedule.get("intervalSeconds")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 1
        ):
            raise MetadataError("metadata.schedule.intervalSeconds must be a positive integer")
        result["schedule"] = {k: v for k, v in schedule.items() if v is not None}
    route_keys = ("method", "path", "auth")
    routes = _list_of_objects(
        metadata.get("routes") or [],
        "metadata.routes",
        route_keys + ("webhook", "summary", "requestSchema", "responseSchema"),
        route_keys,
    )
    for index, route in enumerate(routes):
        if route["auth"] not in _ROUTE_AUTH:
            raise MetadataError(
                f"metadata.routes[{index}].auth must be one of {', '.join(_ROUTE_AUTH)}"
            )
        if not isinstance(route.get("webhook", False), bool):
            raise MetadataError(f"metadata.routes[{index}].webhook must be true or false")
        if not route.get("webhook", True):
            del route["webhook"]
    result["routes"] = routes
    ui_keys = ("id", "title", "path")
    result["ui"] = _list_of_objects(metadata.get("ui") or [], "metadata.ui", ui_keys, ui_keys)
    tool_keys = ("name", "description", "inputSchema", "title", "outputSchema", "annotations")
    tools = _list_of_objects(metadata.get("tools") or [], "metadata.tools", tool_keys, ("name",))
    for index, tool in enumerate(tools):
        tool.setdefault("description", "")
        # The Rust type would send `null`; an MCP client needs an object schema.
        tool.setdefault("inputSchema", {"type": "object"})
        _check_tool(tool, f"metadata.tools[{index}]")
    result["tools"] = tools
    return result


_TOOL_HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


def _check_tool(tool: Dict[str, Any], where: str) -> None:
    """Checks a tool's optional fields: the schemas are objects, the title a string, the
    annotations MCP's hints (booleans) and an optional title."""
    for key in ("inputSchema", "outputSchema"):
        if key in tool and not isinstance(tool[key], dict):
            raise MetadataError(f"{where}.{key} must be a JSON Schema object")
    if "title" in tool and not isinstance(tool["title"], str):
        raise MetadataError(f"{where}.title must be a string")
    annotations = tool.get("annotations")
    if annotations is None:
        tool.pop("annotations", None)
        return
    if not isinstance(annotations, dict):
        raise MetadataError(f"{where}.annotations must be an object")
    _check_keys(annotations, ("title",) + _TOOL_HINTS, f"{where}.annotations")
    for hint in _TOOL_HINTS:
        if hint in annotations and not isinstance(annotations[hint], bool):
            raise MetadataError(f"{where}.annotations.{hint} must be true or false")
    if "title" in annotations and not isinstance(annotations["title"], str):
        raise MetadataError(f"{where}.annotations.title must be a string")
