"""The context of one request: who and what it is for, and the host's services for it.

Owns: :class:`Context`, which a handler receives first. It carries the request id, the job,
tenant, config and trigger of a ``run`` (``None`` for other methods), the cancellation flag, and
the calls to the host: ``log``/``progress`` notifications (tied to the request by
``requestId``; a log only in a ``run``, whose job it belongs to), and the ``kv/*`` and ``emit``
requests, which are coroutines (``await ctx.kv_get("count")``) with blocking ``*_sync`` twins
for sync handlers, which run in worker threads.

Must not touch: the pipes. It reaches the host only through the :class:`Host` it is given.
"""

import asyncio
import threading
from typing import Any, Coroutine, Dict, List, NamedTuple, Optional, Protocol, TypeVar

from .errors import INTERNAL_ERROR, Cancelled, HostError
from .job import ConfigInfo, JobInfo, Trigger
from .wire import EMIT, KV_DELETE, KV_GET, KV_LIST, KV_SET, LOG, PROGRESS, RUN, RequestId

T = TypeVar("T")

LOG_LEVELS = ("debug", "info", "warn", "error")


class Host(Protocol):
    """What a context needs from the connection to the host."""

    loop: asyncio.AbstractEventLoop

    def notify(self, method: str, params: Dict[str, Any]) -> None:
        """Sends a notification; callable from any thread."""

    async def call(self, method: str, params: Dict[str, Any]) -> Any:
        """Sends a request and waits for its result; raises :class:`HostError`."""


class _SameTenant:
    def __repr__(self) -> str:
        return "SAME_TENANT"


SAME_TENANT: Any = _SameTenant()
"""Default of the ``tenant`` arguments: the tenant of the request being handled."""


class KvItem(NamedTuple):
    """One stored value."""

    key: str
    value: Any


class KvPage(NamedTuple):
    """One page of ``kv_list``, in key order; pass ``next_cursor`` for the next page."""

    items: List[KvItem]
    next_cursor: Optional[str]


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not 1 <= len(key.encode("utf-8")) <= 512:
        raise ValueError(f"a kv key must be a string of 1 to 512 bytes, got {key!r}")


def _unexpected(method: str, result: Any) -> HostError:
    return HostError(
        method, INTERNAL_ERROR, f"the host answered with an unexpected result {result!r}"
    )


class Context:
    """The context of one request from the host. Handlers receive it as their first argument."""

    def __init__(
        self,
        host: Host,
        request_id: RequestId,
        method: str,
        *,
        tenant: Optional[str] = None,
        job: Optional[JobInfo] = None,
        config: Optional[ConfigInfo] = None,
        trigger: Optional[Trigger] = None,
        data_dir: Optional[str] = None,
    ) -> None:
        self._host = host
        self.request_id: RequestId = request_id
        """The id of the host's request; ``log`` and ``progress`` carry it as ``requestId``."""
        self.method = method
        """The request's method: ``run``, ``config/test``, ``tools/call``, ..."""
        self.tenant = tenant
        """For whom (``None`` for work of no tenant)."""
        self.job = job
        """The job, for ``run``."""
        self.config = config
        """The config, for ``run`` with one."""
        self.trigger = trigger
        """What started the run, for ``run``."""
        self.data_dir = data_dir
        """The plugin's own writable directory, as the host said in ``initialize``."""
        self.cancelled = threading.Event()
        """Set when the host cancels this request. ``ctx.cancelled.wait(seconds)`` is a sleep
        that ends early on cancellation."""
        self.cancel_reason: Optional[str] = None
        """Why the host cancelled, when it said."""

    def __repr__(self) -> str:
        return (
            f"Context(method={self.method!r}, request_id={self.request_id!r}, "
            f"tenant={self.tenant!r})"
        )

    # Cancellation.

    def check_cancelled(self) -> None:
        """Raises :class:`~plugboard.Cancelled` if the host has cancelled this request."""
        if self.cancelled.is_set():
            raise Cancelled(self.cancel_message())

    def cancel_message(self) -> str:
        """The message a cancelled request answers with: `cancelled`, and the reason if any."""
        return f"cancelled: {self.cancel_reason}" if self.cancel_reason else "cancelled"

    async def sleep(self, seconds: float) -> None:
        """Sleeps, raising :class:`~plugboard.Cancelled` if the request is cancelled first."""
        self.check_cancelled()
        await asyncio.sleep(seconds)
        self.check_cancelled()

    def sleep_sync(self, seconds: float) -> None:
        """Blocks for ``seconds``, raising :class:`~plugboard.Cancelled` as soon as the request
        is cancelled."""
        if self.cancelled.wait(seconds):
            raise Cancelled(self.cancel_message())

    # Notifications: fire and forget, from any thread.

    def log(self, level: str, message: str) -> None:
        """Sends a log line; ``level`` is debug, info, warn or error.

        In a ``run`` the line carries ``requestId`` and goes to the job's log; for other
        requests (which have no job) it goes to the plugin's own log.
        """
        if level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        params: Dict[str, Any] = {"level": level, "message": str(message)}
        if self.method == RUN:
            params["requestId"] = self.request_id
        self._host.notify(LOG, params)

    def debug(self, message: str) -> None:
        """A debug log line."""
        self.log("debug", message)

    def info(self, message: str) -> None:
        """An info log line."""
        self.log("info", message)

    def warn(self, message: str) -> None:
        """A warning log line."""
        self.log("warn", message)

    def error(self, message: str) -> None:
        """An error log line."""
        self.log("error", message)

    def progress(
        self, progress: float, total: Optional[float] = None, message: Optional[str] = None
    ) -> None:
        """Reports progress: ``progress`` of ``total`` (or any growing number without it)."""
        params: Dict[str, Any] = {"requestId": self.request_id, "progress": float(progress)}
        if total is not None:
            params["total"] = float(total)
        if message is not None:
            params["message"] = str(message)
        self._host.notify(PROGRESS, params)

    # Host requests: coroutines, on the event loop.

    def _with_tenant(self, params: Dict[str, Any], tenant: Any) -> Dict[str, Any]:
        tenant = self.tenant if tenant is SAME_TENANT else tenant
        if tenant is not None:
            params["tenant"] = tenant
        return params

    async def kv_get(self, key: str, *, tenant: Optional[str] = SAME_TENANT) -> Any:
        """The value stored under ``key``, or ``None``. Keys are scoped to this plugin and the
        tenant (by default the request's; ``tenant=None`` means the plugin's own values)."""
        _check_key(key)
        result = await self._host.call(KV_GET, self._with_tenant({"key": key}, tenant))
        if not isinstance(result, dict):
            raise _unexpected(KV_GET, result)
        return result.get("value")

    async def kv_set(self, key: str, value: Any, *, tenant: Optional[str] = SAME_TENANT) -> None:
        """Stores ``value`` (any JSON, up to 1 MiB encoded) under ``key``. Storing ``None``
        reads back as no value: use :meth:`kv_delete`."""
        _check_key(key)
        await self._host.call(KV_SET, self._with_tenant({"key": key, "value": value}, tenant))

    async def kv_delete(self, key: str, *, tenant: Optional[str] = SAME_TENANT) -> bool:
        """Deletes ``key``; true when there was a value."""
        _check_key(key)
        result = await self._host.call(KV_DELETE, self._with_tenant({"key": key}, tenant))
        if not isinstance(result, dict):
            raise _unexpected(KV_DELETE, result)
        return bool(result.get("deleted"))

    async def kv_list(
        self,
        prefix: str = "",
        *,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        tenant: Optional[str] = SAME_TENANT,
    ) -> KvPage:
        """One page of the values whose keys start with ``prefix``, in key order."""
        params: Dict[str, Any] = {"prefix": prefix}
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = limit
        result = await self._host.call(KV_LIST, self._with_tenant(params, tenant))
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            raise _unexpected(KV_LIST, result)
        items = [KvItem(item["key"], item.get("value")) for item in result["items"]]
        return KvPage(items, result.get("nextCursor"))

    async def emit(
        self,
        type: str,
        payload: Any = None,
        *,
        tenant: Optional[str] = SAME_TENANT,
        idempotency_key: Optional[str] = None,
    ) -> str:
        """Raises an event for a tenant (by default the request's); returns the event's id.

        A second event with the same ``idempotency_key`` does nothing.
        """
        tenant = self.tenant if tenant is SAME_TENANT else tenant
        if not tenant:
            raise ValueError(f"emit({type!r}) needs a tenant, and this request has none")
        params: Dict[str, Any] = {
            "tenant": tenant,
            "type": type,
            "payload": payload,
        }
        if idempotency_key is not None:
            params["idempotencyKey"] = idempotency_key
        result = await self._host.call(EMIT, params)
        if not isinstance(result, dict) or not isinstance(result.get("eventId"), str):
            raise _unexpected(EMIT, result)
        return str(result["eventId"])

    # Blocking twins, for sync handlers (which run in worker threads).

    def _wait(self, coroutine: Coroutine[Any, Any, T], name: str) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._host.loop:
            coroutine.close()
            raise RuntimeError(
                f"ctx.{name}_sync() would block the event loop; in an async handler use "
                f"await ctx.{name}()"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, self._host.loop).result()

    def kv_get_sync(self, key: str, *, tenant: Optional[str] = SAME_TENANT) -> Any:
        """:meth:`kv_get`, blocking."""
        return self._wait(self.kv_get(key, tenant=tenant), "kv_get")

    def kv_set_sync(self, key: str, value: Any, *, tenant: Optional[str] = SAME_TENANT) -> None:
        """:meth:`kv_set`, blocking."""
        self._wait(self.kv_set(key, value, tenant=tenant), "kv_set")

    def kv_delete_sync(self, key: str, *, tenant: Optional[str] = SAME_TENANT) -> bool:
        """:meth:`kv_delete`, blocking."""
        return self._wait(self.kv_delete(key, tenant=tenant), "kv_delete")

    def kv_list_sync(
        self,
        prefix: str = "",
        *,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        tenant: Optional[str] = SAME_TENANT,
    ) -> KvPage:
        """:meth:`kv_list`, blocking."""
        return self._wait(
            self.kv_list(prefix, cursor=cursor, limit=limit, tenant=tenant), "kv_list"
        )

    def emit_sync(
        self,
        type: str,
        payload: Any = None,
        *,
        tenant: Optional[str] = SAME_TENANT,
        idempotency_key: Optional[str] = None,
    ) -> str:
        """:meth:`emit`, blocking."""
        return self._wait(
            self.emit(type, payload, tenant=tenant, idempotency_key=idempotency_key), "emit"
        )
