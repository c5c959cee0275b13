"""The class a plugin author subclasses: identity, metadata and one method per request.

Owns: :class:`Plugin`, its defaults (what a plugin that does not override a handler answers)
and the tuning knobs (``max_threads``, ``shutdown_timeout``).

Must not touch: the protocol loop, which lives in :mod:`plugboard.server`; this class is only
what the author writes against.

Every handler may be a plain method or an ``async def`` coroutine. Plain ones run in a worker
thread (so a slow one never blocks the others), coroutines on the event loop (so they must not
block it; use ``await asyncio.to_thread(...)`` for blocking calls).
"""

from typing import Any, Awaitable, Dict, Optional, TypeVar, Union

from .config import ConfigTestResult, ValidateReturn
from .context import LOG_LEVELS, Context, Host
from .errors import METHOD_NOT_FOUND, InvalidParams, PluginError
from .job import RunParams
from .metadata import Metadata
from .routes import HttpRequest, HttpResponse
from .tools import ToolReturn
from .transport import log_to_stderr
from .wire import LOG

T = TypeVar("T")

MaybeAwaitable = Union[T, Awaitable[T]]
"""What a handler returns: the value, or (from an ``async def``) a coroutine of it."""


def not_implemented(method: str) -> PluginError:
    """The error a plugin answers for a method it does not implement (-32601)."""
    return PluginError(
        f"method `{method}` is not implemented by this plugin", code=METHOD_NOT_FOUND
    )


class Plugin:
    """Base class of a plugin. Set ``id``, ``name`` and ``version`` as class attributes (or pass
    them to the constructor), override the handlers you offer, and call :meth:`serve`::

        class Hello(plugboard.Plugin):
            id = "hello"
            name = "Hello"
            version = "1.0.0"

            def run(self, ctx, params):
                ctx.info(f"hello, {ctx.tenant}")
                return {"greeted": ctx.tenant}

        if __name__ == "__main__":
            Hello().serve()
    """

    id: str = ""
    """Must equal the manifest's ``id``."""
    name: str = ""
    """A display name; the id when empty."""
    version: str = ""
    """Must equal the manifest's ``version``."""
    max_threads: int = 32
    """Worker threads for sync handlers (started as needed). Keep it at least the manifest's
    ``concurrency``."""
    shutdown_timeout: float = 10.0
    """Seconds ``shutdown`` waits for requests in flight before cancelling them."""

    def __init__(
        self, id: Optional[str] = None, name: Optional[str] = None, version: Optional[str] = None
    ) -> None:
        if id is not None:
            self.id = id
        if name is not None:
            self.name = name
        if version is not None:
            self.version = version
        self._host: Optional[Host] = None

    def attach(self, host: Host) -> None:
        """Called by the server when it starts serving this plugin."""
        self._host = host

    def log(self, level: str, message: str) -> None:
        """A line of the plugin's own log (not a job's): a ``log`` notification without
        ``requestId`` once serving, a line on stderr before. Use ``ctx.log`` for a run's log."""
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        if self._host is None:
            log_to_stderr(f"{level}: {message}")
        else:
            self._host.notify(LOG, {"level": level, "message": str(message)})

    def identity(self) -> Dict[str, str]:
        """The ``plugin`` member of the ``initialize`` result.

        Raises ``ValueError`` when ``id`` or ``version`` is not set.
        """
        missing = [field for field in ("id", "version") if not getattr(self, field)]
        if missing:
            pronoun = "it" if len(missing) == 1 else "them"
            raise ValueError(
                f"plugin {type(self).__name__} has no {' or '.join(missing)}; set {pronoun} on "
                f'the class (id = "hello") or pass {pronoun} to the constructor'
            )
        return {"id": self.id, "name": self.name or self.id, "version": self.version}

    def serve(self) -> None:
        """Speaks the protocol on stdin and stdout until the host says ``shutdown`` or closes
        stdin, then exits the process. Same as ``plugboard.serve(self)``."""
        from .server import serve

        serve(self)

    # The handlers. Each may be overridden by a plain method or a coroutine.

    def metadata(self) -> MaybeAwaitable[Metadata]:
        """What the plugin offers, as it answers ``initialize``: ``configSchema``, ``events``,
        ``schedule``, ``routes``, ``ui``, ``tools`` (wire names). Default: nothing."""
        return {}

    def run(self, ctx: Context, params: RunParams) -> MaybeAwaitable[Any]:
        """Runs one attempt of a job; the return value (any JSON) is the job's result.

        ``params.payload`` is the job's payload; ``ctx.job``, ``ctx.tenant``, ``ctx.config`` and
        ``ctx.trigger`` say what the run is for.
        """
        raise not_implemented("run")

    def validate_config(self, ctx: Context, values: Any) -> MaybeAwaitable[ValidateReturn]:
        """Checks a config's values beyond the JSON Schema; returns the problems found
        (:class:`~plugboard.ConfigProblem`), none when valid. Default: valid."""
        return None

    def test_config(self, ctx: Context, values: Any) -> MaybeAwaitable[ConfigTestResult]:
        """Tries a config for real (for example, connects with its credentials)."""
        raise not_implemented("config/test")

    def call_tool(
        self, ctx: Context, name: str, arguments: Dict[str, Any]
    ) -> MaybeAwaitable[ToolReturn]:
        """Calls one of the tools listed in the metadata."""
        raise InvalidParams(f"unknown tool {name!r}: this plugin has no tools")

    def http(self, ctx: Context, request: HttpRequest) -> MaybeAwaitable[HttpResponse]:
        """Answers a request to one of the routes listed in the metadata."""
        raise not_implemented("http")
