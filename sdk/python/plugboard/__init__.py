"""plugboard: write plugboard plugins in Python.

A plugin is a process the plugboard host starts; it speaks JSON-RPC 2.0 on stdin and stdout, one
message per line (protocol version 1, ``docs/protocol.md``). This package is that process's
side, on the standard library alone::

    import plugboard

    class Hello(plugboard.Plugin):
        id = "hello"
        name = "Hello"
        version = "1.0.0"

        def metadata(self):
            return {"schedule": {"intervalSeconds": 60}}

        def run(self, ctx, params):          # or: async def run(self, ctx, params)
            ctx.info("hello")
            return {"tenant": ctx.tenant}

    if __name__ == "__main__":
        plugboard.serve(Hello())

Owns: the public names below; each module says what it owns. Importing this package has no side
effects: only :func:`serve` takes over stdin and stdout (so nothing may be printed to stdout
before it is called).
"""

from .config import ConfigProblem, ConfigTestResult
from .context import Context, KvItem, KvPage
from .errors import Cancelled, HostError, InvalidParams, NotRetryable, PluginError
from .job import ConfigInfo, Event, JobInfo, RunParams, Trigger
from .metadata import Metadata
from .plugin import Plugin
from .routes import HttpRequest, HttpResponse, WebhookConfig
from .server import serve
from .tools import ToolResult
from .webhooks import SignatureError, verify_github, verify_stripe
from .wire import PROTOCOL_VERSION

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION",
    "Cancelled",
    "ConfigInfo",
    "ConfigProblem",
    "ConfigTestResult",
    "Context",
    "Event",
    "HostError",
    "HttpRequest",
    "HttpResponse",
    "InvalidParams",
    "JobInfo",
    "KvItem",
    "KvPage",
    "Metadata",
    "NotRetryable",
    "Plugin",
    "PluginError",
    "RunParams",
    "SignatureError",
    "ToolResult",
    "Trigger",
    "WebhookConfig",
    "serve",
    "verify_github",
    "verify_stripe",
]
