"""counter-python: counts its runs per tenant, in the host's key-value store.

An example of the plugboard Python SDK with coroutine handlers: ``run`` reads the tenant's
``count`` with ``kv_get``, adds one and stores it with ``kv_set``; the tool ``counter_get``
answers the current count as MCP text content. A config subscribed to ``counter.*`` events
counts every such event.
"""

import asyncio
import os
import sys
from typing import Any, Dict, Optional

try:
    import plugboard
except ImportError:
    # Neither installed nor in the package: use the SDK of this repository. That works when
    # main.py is run by hand; under plugboard the sandbox lets a plugin read only its package,
    # so a shipped package carries the SDK (`plugboard/` next to this file, as scripts/demo does).
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(_HERE, "..", "..", "..", "sdk", "python"))
    import plugboard

COUNT_KEY = "count"


class Counter(plugboard.Plugin):
    """Counts runs per tenant."""

    id = "counter-python"
    name = "Counter (Python)"
    version = "0.1.0"

    def __init__(self) -> None:
        super().__init__()
        # One lock per tenant: a read-add-write of one tenant's count must not interleave with
        # another run of the same tenant in this process.
        self._locks: Dict[Optional[str], asyncio.Lock] = {}

    def metadata(self) -> plugboard.Metadata:
        return {
            # No settings, but a config is how a tenant subscribes to events.
            "configSchema": {"type": "object", "properties": {}, "additionalProperties": False},
            "events": ["counter.*"],
            "tools": [
                {
                    "name": "counter_get",
                    "description": "The number of runs counted for the caller's tenant.",
                    "inputSchema": {"type": "object", "properties": {}},
                }
            ],
        }

    async def run(self, ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
        lock = self._locks.setdefault(ctx.tenant, asyncio.Lock())
        async with lock:
            count = await self._count(ctx) + 1
            await ctx.kv_set(COUNT_KEY, count)
        trigger = ctx.trigger
        if trigger is not None and trigger.event is not None:
            ctx.info(f"run {count} for tenant {ctx.tenant}, on event {trigger.event.type}")
        else:
            ctx.info(f"run {count} for tenant {ctx.tenant} ({trigger.kind if trigger else 'run'})")
        return {"count": count}

    async def call_tool(
        self, ctx: plugboard.Context, name: str, arguments: Dict[str, Any]
    ) -> plugboard.ToolResult:
        if name != "counter_get":
            raise plugboard.InvalidParams(f"unknown tool {name!r}; counter-python has counter_get")
        return plugboard.ToolResult.text(str(await self._count(ctx)))

    async def _count(self, ctx: plugboard.Context) -> int:
        stored = await ctx.kv_get(COUNT_KEY)
        if stored is None:
            return 0
        if isinstance(stored, bool) or not isinstance(stored, int):
            ctx.warn(f"the stored count {stored!r} is not an integer; counting from 0")
            return 0
        return stored


if __name__ == "__main__":
    Counter().serve()
