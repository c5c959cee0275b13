"""Which handler a request calls, with what, and how its return value becomes the result.

Owns: :func:`prepare` (a ``run``, ``config/validate``, ``config/test``, ``tools/call`` or
``http`` request read into a :class:`Call` of the plugin's handler), the result encoders, and
:class:`HandlerPool`, the worker threads plain handlers run in.

Must not touch: the connection. The server owns reading, writing, ids and lifecycle; this module
only maps one request to one call.
"""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

from . import wire
from .config import config_test_result, read_config_params, validate_result
from .job import ConfigInfo, JobInfo, Trigger, read_run_params
from .plugin import Plugin
from .routes import http_result, read_http_params
from .tools import read_tools_call_params, tool_result

HANDLER_METHODS = (wire.RUN, wire.CONFIG_VALIDATE, wire.CONFIG_TEST, wire.TOOLS_CALL, wire.HTTP)
"""The host's requests that a plugin's handlers answer."""


class Scope(NamedTuple):
    """What a request is for: the context's tenant and, for a ``run``, its job."""

    tenant: Optional[str]
    job: Optional[JobInfo] = None
    config: Optional[ConfigInfo] = None
    trigger: Optional[Trigger] = None


class Call(NamedTuple):
    """A prepared handler call: the handler, its arguments after ``ctx``, and the function that
    turns its return value into the method's result."""

    handler: Callable[..., Any]
    arguments: Tuple[Any, ...]
    to_result: Callable[[Any], Any]


def run_result(value: Any) -> Dict[str, Any]:
    """The ``run`` result: the job's result goes in the ``result`` field."""
    return {} if value is None else {"result": value}


def prepare(plugin: Plugin, method: str, params: Any) -> Tuple[Scope, Call]:
    """The scope and handler call for a request of ``method`` (one of
    :data:`HANDLER_METHODS`); raises :class:`~plugboard.InvalidParams`."""
    if method == wire.RUN:
        run = read_run_params(params)
        scope = Scope(run.tenant, run.job, run.config, run.trigger)
        return scope, Call(plugin.run, (run,), run_result)
    if method == wire.CONFIG_VALIDATE:
        tenant, values = read_config_params(method, params)
        return Scope(tenant), Call(plugin.validate_config, (values,), validate_result)
    if method == wire.CONFIG_TEST:
        tenant, values = read_config_params(method, params)
        return Scope(tenant), Call(plugin.test_config, (values,), config_test_result)
    if method == wire.TOOLS_CALL:
        name, arguments, tenant = read_tools_call_params(params)
        return Scope(tenant), Call(plugin.call_tool, (name, arguments), tool_result)
    if method == wire.HTTP:
        request = read_http_params(params)
        return Scope(request.tenant), Call(plugin.http, (request,), http_result)
    raise ValueError(f"{method} is not a handler method")  # the server checks first


class HandlerPool(ThreadPoolExecutor):
    """The worker threads plain handlers run in (started as needed). It counts the jobs still
    running, so the process can exit without joining threads stuck in user code."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="plugboard-handler")
        self._busy_lock = threading.Lock()
        self.busy = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> "Future[Any]":
        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._busy_lock:
                    self.busy -= 1

        with self._busy_lock:
            self.busy += 1
        try:
            return super().submit(counted)
        except BaseException:
            with self._busy_lock:
                self.busy -= 1
            raise
