"""A plugin the SDK's tests script through each run's payload: ``{"do": ACTION, ...}``.

Actions: ``echo`` (return what the run received), ``log`` (log at every level and report
progress), ``print`` (print to stdout, which must not reach the protocol), ``fail`` (raise
ValueError), ``not_retryable``, ``wait_cancel`` (wait until cancelled, checking the flag),
``meet`` (wait until ``n`` runs are in flight at once: proves they overlap), ``count`` (kv
read-add-write, then emit), ``sleep`` (``seconds``).

``main.py`` serves plain methods (run in worker threads); ``main.py --async`` serves coroutines.
"""

import asyncio
import os
import sys
import threading
from typing import Any, Dict

try:
    import plugboard
except ImportError:
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(_HERE, "..", "..", ".."))
    import plugboard

METADATA: plugboard.Metadata = {
    "configSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
    "events": ["scripted.*"],
    "schedule": {"intervalSeconds": 30},
    "routes": [
        {"method": "GET", "path": "/hello/{name}", "auth": "public"},
        {"method": "GET", "path": "/hello/ui", "auth": "public"},
    ],
    "ui": [{"id": "main", "title": "Scripted", "path": "/hello/ui"}],
    "tools": [{"name": "echo", "description": "Echoes its arguments", "inputSchema": {}}],
}


def echo(ctx: plugboard.Context, params: plugboard.RunParams) -> Dict[str, Any]:
    """What a run received, as the handler sees it."""
    trigger = ctx.trigger
    return {
        "requestId": ctx.request_id,
        "tenant": ctx.tenant,
        "jobId": ctx.job.id if ctx.job else None,
        "config": ctx.config.values if ctx.config else None,
        "trigger": trigger.kind if trigger else None,
        "event": trigger.event.type if trigger and trigger.event else None,
        "fireTime": trigger.fire_time if trigger else None,
        "payload": params.payload,
        "thread": threading.current_thread().name,
        "dataDir": ctx.data_dir,
    }


def common(ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
    """The actions that are the same for both kinds of handler."""
    action = params.payload.get("do")
    if action == "echo":
        return echo(ctx, params)
    if action == "log":
        for level in ("debug", "info", "warn", "error"):
            ctx.log(level, f"{level} line")
        ctx.progress(1, 2, "halfway")
        ctx.progress(2)
        return {"logged": True}
    if action == "print":
        print('{"jsonrpc": "2.0", "id": 999, "result": "forged by print"}')
        print("plain text from a handler", flush=True)
        os.write(1, b"written to fd 1\n")
        return {"printed": True}
    if action == "fail":
        raise ValueError("the scripted failure")
    if action == "not_retryable":
        raise plugboard.NotRetryable("the input can never work")
    raise plugboard.InvalidParams(f"unknown action {action!r}")


class Scripted(plugboard.Plugin):
    """Plain methods: they run in worker threads."""

    id = "scripted"
    name = "Scripted"
    version = "1.0.0"
    meeting: Dict[int, threading.Barrier] = {}
    meeting_lock = threading.Lock()

    def metadata(self) -> plugboard.Metadata:
        return METADATA

    def run(self, ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
        action = params.payload.get("do")
        ctx.info(f"started {action}")
        if action == "wait_cancel":
            while True:
                ctx.check_cancelled()
                ctx.cancelled.wait(5)
        if action == "meet":
            with self.meeting_lock:
                barrier = self.meeting.setdefault(
                    params.payload["n"], threading.Barrier(params.payload["n"])
                )
            barrier.wait(timeout=10)
            return {"met": True}
        if action == "count":
            count = (ctx.kv_get_sync("count") or 0) + 1
            ctx.kv_set_sync("count", count)
            ctx.emit_sync(
                "scripted.counted", {"count": count}, idempotency_key=f"job-{params.job.id}"
            )
            return {"count": count}
        if action == "sleep":
            ctx.sleep_sync(params.payload["seconds"])
            return {"slept": params.payload["seconds"]}
        return common(ctx, params)

    def validate_config(self, ctx: plugboard.Context, values: Any) -> Any:
        if values.get("name") == "bad":
            return [plugboard.ConfigProblem("/name", "bad is not a good name")]
        return []

    def test_config(self, ctx: plugboard.Context, values: Any) -> plugboard.ConfigTestResult:
        return plugboard.ConfigTestResult(
            True, f"hello {values.get('name')}", {"tenant": ctx.tenant}
        )

    def call_tool(self, ctx: plugboard.Context, name: str, arguments: Dict[str, Any]) -> Any:
        if name != "echo":
            raise plugboard.InvalidParams(f"unknown tool {name!r}")
        return plugboard.ToolResult.text(str(arguments))

    def http(
        self, ctx: plugboard.Context, request: plugboard.HttpRequest
    ) -> plugboard.HttpResponse:
        return plugboard.HttpResponse.json(
            {"path": request.path, "query": request.query_params(), "body": request.text()}, 201
        )


class AsyncScripted(Scripted):
    """Coroutines: they run on the event loop."""

    meetings: Dict[int, asyncio.Event] = {}
    arrived: Dict[int, int] = {}

    # Overriding the plain methods of Scripted with coroutines is the point of this class.
    async def metadata(self) -> plugboard.Metadata:  # type: ignore[override]
        return METADATA

    async def run(self, ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
        action = params.payload.get("do")
        ctx.info(f"started {action}")
        if action == "wait_cancel":
            await ctx.sleep(60)
        if action == "meet":
            n = params.payload["n"]
            event = self.meetings.setdefault(n, asyncio.Event())
            self.arrived[n] = self.arrived.get(n, 0) + 1
            if self.arrived[n] == n:
                event.set()
            await asyncio.wait_for(event.wait(), timeout=10)
            return {"met": True}
        if action == "count":
            count = (await ctx.kv_get("count") or 0) + 1
            await ctx.kv_set("count", count)
            await ctx.emit(
                "scripted.counted", {"count": count}, idempotency_key=f"job-{params.job.id}"
            )
            return {"count": count}
        if action == "sleep":
            await ctx.sleep(params.payload["seconds"])
            return {"slept": params.payload["seconds"]}
        if action == "sync_in_async":
            return ctx.kv_get_sync("count")
        return common(ctx, params)


if __name__ == "__main__":
    (AsyncScripted() if "--async" in sys.argv[1:] else Scripted()).serve()
