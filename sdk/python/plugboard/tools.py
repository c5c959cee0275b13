"""Agent tools: what ``call_tool`` receives and returns, in MCP's shape.

Owns: reading ``tools/call`` params and :class:`ToolResult` (text content blocks, ``isError``
and, for tools that declare an ``outputSchema``, ``structuredContent``).

Must not touch: I/O.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from .params import Fields


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer: MCP content blocks (``{"type": "text", "text": ...}``) and whether the
    tool failed (the content then says why)."""

    content: List[Dict[str, Any]] = field(default_factory=list)
    is_error: bool = False
    structured: Optional[Dict[str, Any]] = None
    """The answer as JSON valid against the tool's ``outputSchema`` (``structuredContent``)."""

    @classmethod
    def text(cls, text: str, *, is_error: bool = False) -> "ToolResult":
        """An answer of one text block."""
        return cls([{"type": "text", "text": text}], is_error)

    @classmethod
    def json(cls, value: Dict[str, Any]) -> "ToolResult":
        """A structured answer: ``value`` as ``structuredContent`` and, for clients that read
        only content blocks, as one text block of JSON (as MCP advises)."""
        return cls([{"type": "text", "text": json.dumps(value)}], False, value)


ToolReturn = Union[ToolResult, str]
"""What ``call_tool`` returns: a :class:`ToolResult`, or a string meaning one text block."""


def read_tools_call_params(params: Any) -> Tuple[str, Dict[str, Any], Optional[str]]:
    """The ``(name, arguments, tenant)`` of ``tools/call``; absent arguments read as ``{}``."""
    fields = Fields(params, "tools/call: params")
    return (
        fields.string("name"),
        fields.json_value("arguments", {}),
        fields.optional_string("tenant"),
    )


def tool_result(returned: ToolReturn) -> Dict[str, Any]:
    """The ``tools/call`` result for what the handler returned."""
    if isinstance(returned, str):
        returned = ToolResult.text(returned)
    if not isinstance(returned, ToolResult):
        raise TypeError(f"call_tool must return a ToolResult or a str, got {returned!r}")
    result: Dict[str, Any] = {"content": list(returned.content), "isError": returned.is_error}
    if returned.structured is not None:
        result["structuredContent"] = returned.structured
    return result
