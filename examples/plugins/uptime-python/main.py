"""uptime-python: checks that a URL answers with the expected HTTP status.

An example of the plugboard Python SDK. Each config names a ``url`` (and optionally
``timeout_seconds`` and ``expect_status``) and runs every 60 seconds unless it sets its own
schedule. A run fetches the URL with urllib, logs the outcome and returns
``{status, ms, up}``; when the check fails it emits ``uptime.down`` for the tenant. An invalid
URL fails the job without retries. ``test_config`` does one fetch.

The fetch is blocking, so ``run`` (a coroutine) hands it to a worker thread: a ``cancel`` from
the host stops the run at once, and ``timeout_seconds`` bounds the whole check.
"""

import asyncio
import os
import sys
import time
from typing import Any, Dict, List, NamedTuple, Optional
from urllib.parse import urlsplit

try:
    import plugboard
except ImportError:
    # Neither installed nor in the package: use the SDK of this repository. That works when
    # main.py is run by hand; under plugboard the sandbox lets a plugin read only its package,
    # so a shipped package carries the SDK (`plugboard/` next to this file, as scripts/demo does).
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(_HERE, "..", "..", "..", "sdk", "python"))
    import plugboard

CONFIG_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri", "description": "The http(s) URL to check."},
        "timeout_seconds": {
            "type": "number",
            "default": 5,
            "exclusiveMinimum": 0,
            "maximum": 300,
            "description": "How long the whole check may take.",
        },
        "expect_status": {
            "type": "integer",
            "default": 200,
            "minimum": 100,
            "maximum": 599,
            "description": "The status that means up.",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


class Settings(NamedTuple):
    """A config's values, with defaults applied."""

    url: str
    timeout_seconds: float
    expect_status: int


class Check(NamedTuple):
    """The outcome of one fetch; ``status`` is ``None`` when no HTTP answer came."""

    status: Optional[int]
    ms: int
    up: bool
    error: Optional[str]


def url_problem(url: Any) -> Optional[str]:
    """Why ``url`` cannot be checked, or ``None`` when it can."""
    if not isinstance(url, str) or not url:
        return "url must be a non-empty string"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"{url!r} is not a valid URL: {error}"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not an http or https URL"
    if not parts.hostname:
        return f"{url!r} has no host"
    return None


def read_settings(values: Any) -> Settings:
    """The settings in ``values``; raises NotRetryable when they cannot work."""
    if not isinstance(values, dict):
        raise plugboard.NotRetryable("no settings: run with a config (or a payload) with a url")
    problem = url_problem(values.get("url"))
    if problem is not None:
        raise plugboard.NotRetryable(problem)
    return Settings(
        url=values["url"],
        timeout_seconds=float(values.get("timeout_seconds", 5)),
        expect_status=int(values.get("expect_status", 200)),
    )


def fetch(settings: Settings) -> Check:
    """One GET of the URL (blocking)."""
    import http.client
    import socket
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        settings.url, headers={"User-Agent": "plugboard-uptime-python/0.1"}
    )
    started = time.monotonic()
    status: Optional[int] = None
    error: Optional[str] = None
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
            status = response.status
    except urllib.error.HTTPError as answer:  # A status, just not a 2xx one.
        status = answer.code
        answer.close()
    except urllib.error.URLError as failure:
        timed_out = isinstance(failure.reason, (socket.timeout, TimeoutError))
        error = no_answer(settings) if timed_out else str(failure.reason)
    except (socket.timeout, TimeoutError):
        error = no_answer(settings)
    except (OSError, http.client.HTTPException) as failure:
        error = str(failure) or type(failure).__name__
    ms = round((time.monotonic() - started) * 1000)
    up = status == settings.expect_status
    if status is not None and not up:
        error = f"status {status}, expected {settings.expect_status}"
    return Check(status, ms, up, error)


def no_answer(settings: Settings) -> str:
    """The error of a check that timed out."""
    return f"no answer within {settings.timeout_seconds:g} s"


async def check(settings: Settings) -> Check:
    """:func:`fetch` in a worker thread, bounded by the timeout as a whole (urllib's timeout is
    per socket operation)."""
    started = time.monotonic()
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(fetch, settings), timeout=settings.timeout_seconds + 0.5
        )
    except asyncio.TimeoutError:
        ms = round((time.monotonic() - started) * 1000)
        return Check(None, ms, False, no_answer(settings))


def describe(settings: Settings, result: Check) -> str:
    """The outcome in one line, for the log and config tests."""
    outcome = "up" if result.up else f"down: {result.error}"
    status = result.status if result.status is not None else "no status"
    return f"GET {settings.url} answered {status} in {result.ms} ms ({outcome})"


class Uptime(plugboard.Plugin):
    """Checks a URL on a schedule."""

    id = "uptime-python"
    name = "Uptime (Python)"
    version = "0.1.0"

    def metadata(self) -> plugboard.Metadata:
        return {"configSchema": CONFIG_SCHEMA, "schedule": {"intervalSeconds": 60}}

    def validate_config(self, ctx: plugboard.Context, values: Any) -> List[plugboard.ConfigProblem]:
        problem = url_problem(values.get("url") if isinstance(values, dict) else None)
        return [] if problem is None else [plugboard.ConfigProblem("/url", problem)]

    def test_config(self, ctx: plugboard.Context, values: Any) -> plugboard.ConfigTestResult:
        settings = read_settings(values)
        result = fetch(settings)
        return plugboard.ConfigTestResult(
            ok=result.up, message=describe(settings, result), details=result._asdict()
        )

    async def run(self, ctx: plugboard.Context, params: plugboard.RunParams) -> Any:
        settings = read_settings(ctx.config.values if ctx.config is not None else params.payload)
        result = await check(settings)
        ctx.log("info" if result.up else "error", describe(settings, result))
        if not result.up:
            await self._report_down(ctx, settings, result)
        return {"status": result.status, "ms": result.ms, "up": result.up}

    async def _report_down(self, ctx: plugboard.Context, settings: Settings, result: Check) -> None:
        if ctx.tenant is None:
            ctx.warn("this run has no tenant, so uptime.down is not emitted")
            return
        payload = {
            "url": settings.url,
            "status": result.status,
            "ms": result.ms,
            "error": result.error,
            "config": ctx.config.id if ctx.config is not None else None,
        }
        # One event per job, however many attempts it takes.
        job_key = f"uptime-python:{ctx.job.id}" if ctx.job is not None else None
        await ctx.emit("uptime.down", payload, idempotency_key=job_key)


if __name__ == "__main__":
    Uptime().serve()
