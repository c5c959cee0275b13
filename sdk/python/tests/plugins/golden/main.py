"""The ``hello-node`` plugin of docs/protocol.md, written with the Python SDK, for the golden test.

Driven with the host-side golden messages, it produces the plugin-side ones of
``crates/plugboard-protocol/tests/golden/``: the same identity and metadata, the same log,
progress, kv and emit calls in the same order (so its ids ``p-1`` ... ``p-5`` match too), the
same results and errors. ``main.py --minimal`` serves a plugin without ``config/test``.
"""

import os
import sys
from typing import Any, Dict

try:
    import plugboard
except ImportError:
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(_HERE, "..", "..", ".."))
    import plugboard


class Hello(plugboard.Plugin):
    """Greets, counts its runs per tenant and offers a greet tool."""

    id = "hello-node"
    name = "Hello (Node.js)"
    version = "0.1.0"

    def metadata(self) -> plugboard.Metadata:
        self.log("warn", "config cache is cold")
        return {
            "configSchema": {
                "type": "object",
                "properties": {"greeting": {"type": "string", "default": "Hello", "maxLength": 40}},
                "additionalProperties": False,
            },
            "events": ["form.submitted", "uptime.*"],
            "schedule": {"intervalSeconds": 300},
            "routes": [
                {"method": "GET", "path": "/status", "auth": "tenant"},
                {"method": "POST", "path": "/hooks/{source}", "auth": "public"},
                {"method": "GET", "path": "/admin", "auth": "admin"},
                {"method": "GET", "path": "/ui", "auth": "public"},
            ],
            "ui": [{"id": "overview", "title": "Hello overview", "path": "/ui"}],
            "tools": [
                {
                    "name": "greet",
                    "description": "Greets someone by name.",
                    "inputSchema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                }
            ],
        }

    async def run(self, ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
        payload = params.payload or {}
        if payload.get("wait"):
            await ctx.sleep(60)
        if payload.get("fail"):
            raise RuntimeError("the mail server did not answer within 30 s")
        greeting = ctx.config.values.get("greeting", "Hello") if ctx.config else "Hello"
        if not greeting.strip():
            raise plugboard.NotRetryable(
                "the config's greeting is empty; set `greeting` in the config"
            )
        if ctx.trigger is not None and ctx.trigger.kind == "schedule":
            # The rest of the host services, in the order of the golden ids p-3 to p-5.
            await ctx.kv_delete("runs")
            await ctx.kv_list("seen/", cursor="seen/0002", limit=2)
            await ctx.emit("hello.greeted", {"name": "Ada"}, idempotency_key="job-7301")
            return None
        ctx.info(f"greeting {ctx.tenant} with {greeting}")
        runs = (await ctx.kv_get("runs") or 0) + 1
        ctx.progress(1, 2, "counted the run")
        await ctx.kv_set("runs", runs)
        return {"runs": runs}

    def validate_config(self, ctx: plugboard.Context, values: Any) -> Any:
        if not values.get("greeting", "Hello").strip():
            return [plugboard.ConfigProblem("/greeting", "the greeting must not be only spaces")]
        return None

    def test_config(self, ctx: plugboard.Context, values: Any) -> plugboard.ConfigTestResult:
        rendered = f"{values['greeting']}, world"
        return plugboard.ConfigTestResult(
            True, f'the greeting renders as "{rendered}"', {"rendered": rendered}
        )

    def call_tool(self, ctx: plugboard.Context, name: str, arguments: Dict[str, Any]) -> Any:
        if not arguments.get("name"):
            return plugboard.ToolResult.text("`name` must not be empty", is_error=True)
        return f"Hi, {arguments['name']}!"

    def http(
        self, ctx: plugboard.Context, request: plugboard.HttpRequest
    ) -> plugboard.HttpResponse:
        return plugboard.HttpResponse.json({"accepted": True}, status=202)


class Minimal(Hello):
    """The same plugin without ``config/test``."""

    test_config = plugboard.Plugin.test_config  # type: ignore[assignment]


if __name__ == "__main__":
    (Minimal() if "--minimal" in sys.argv[1:] else Hello()).serve()
