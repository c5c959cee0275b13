"""The protocol loop: one plugin process answering the host over stdio.

Owns: :func:`serve` and :class:`Server`, which take over stdin and stdout, run an asyncio event
loop on the main thread, and

- answer ``initialize`` (refusing a protocol version other than 1 with -32003), ``ping`` and
  ``shutdown`` themselves;
- start one task per handler request, so several are in flight at once and each answer goes out
  when it is ready; plain handlers run in a thread pool, coroutines on the loop;
- turn what a handler raises into the error it answers (:class:`~plugboard.PluginError` codes,
  anything else -32000 with its traceback on stderr);
- route ``cancel`` to the request's context (and cancel a coroutine handler's task);
- carry the plugin's own requests (``kv/*``, ``emit``) and match the host's answers by id;
- ignore malformed lines (reported on stderr) and stop cleanly on ``shutdown`` or end of file.

Must not touch: which handler a request calls and the shape of its params and result;
:mod:`plugboard.dispatch` owns that.
"""

import asyncio
import functools
import inspect
import sys
import threading
from typing import Any, Awaitable, Dict, NamedTuple, Optional, Tuple

from . import wire
from .context import Context
from .dispatch import HANDLER_METHODS, Call, HandlerPool, prepare
from .errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    JOB_FAILED,
    Cancelled,
    HostError,
    PluginError,
)
from .memory import cap_malloc_arenas
from .handshake import initialize_result, read_initialize_params, unsupported_version
from .metadata import MetadataError
from .plugin import Plugin, not_implemented
from .transport import LineSplitter, LineWriter, log_to_stderr, start_reading, take_stdio

_EOF_GRACE_SECONDS = 1.0
"""After end of file, how long cancelled requests get to finish before the process exits."""
_AFTER_CANCEL_GRACE_SECONDS = 1.0
"""After ``shutdown`` timed out and cancelled what was left, how long that gets to finish."""


def serve(plugin: Plugin) -> None:
    """Serves ``plugin`` on stdin and stdout, then exits the process (0 after ``shutdown`` or
    end of file)."""
    sys.exit(Server(plugin).run())


class _InFlight(NamedTuple):
    context: Context
    task: "asyncio.Task[None]"
    is_coroutine: bool


def _preview(line: bytes) -> str:
    text = line[:200].decode("utf-8", "replace")
    return text + ("..." if len(line) > 200 else "")


class Server:
    """One plugin's side of the connection. :meth:`run` returns the exit code."""

    def __init__(self, plugin: Plugin) -> None:
        self._plugin = plugin
        self._identity = plugin.identity()  # fails before the loop starts when id is unset
        plugin.attach(self)
        self.loop = asyncio.new_event_loop()
        self._pool = HandlerPool(max(1, plugin.max_threads))
        self._writer: Optional[LineWriter] = None
        self._inflight: Dict[wire.RequestId, _InFlight] = {}
        self._pending: Dict[str, Tuple[str, "asyncio.Future[Any]"]] = {}
        self._next_id = 1
        self._initialized = False
        self._data_dir: Optional[str] = None
        self._stopping: Optional[str] = None  # "shutdown" or "end of file"
        self._host_gone = False
        self._finished: "asyncio.Future[int]" = self.loop.create_future()
        self._transport: Optional[asyncio.BaseTransport] = None

    def run(self) -> int:
        """Serves until ``shutdown`` or end of file; returns the exit code."""
        cap_malloc_arenas()
        stdio = take_stdio()
        self._writer = LineWriter(stdio.write_fd, self.loop, threading.get_ident())
        self.loop.set_default_executor(self._pool)
        try:
            code = self.loop.run_until_complete(self._serve(stdio.read_fd))
        finally:
            if self._transport is not None:
                self._transport.close()
            leftovers = asyncio.all_tasks(self.loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        self._writer.flush()  # what the last pass of the loop wrote
        stuck = self._pool.busy
        sys.stderr.flush()
        if stuck:
            log_to_stderr(f"exiting with {stuck} handler thread(s) still running")
            sys.stderr.flush()
            import os

            os._exit(code)  # joining threads stuck in user code would hang the exit
        self._pool.shutdown(wait=False)
        self.loop.close()
        return code

    async def _serve(self, read_fd: int) -> int:
        splitter = LineSplitter(self._on_line, self._on_overlong)
        self._transport = await start_reading(self.loop, read_fd, splitter, self._on_eof)
        return await self._finished

    # Host interface for contexts.

    def notify(self, method: str, params: Dict[str, Any]) -> None:
        """Sends a notification to the host; callable from any thread."""
        self._write(wire.encode_notification(method, params))

    async def call(self, method: str, params: Dict[str, Any]) -> Any:
        """Sends a request to the host and waits for its result."""
        if self._host_gone:
            raise HostError(method, INTERNAL_ERROR, "the host has closed the connection")
        # Ids as in docs/protocol.md: "p-1", "p-2", ... (separate from the host's numbers).
        request_id = f"p-{self._next_id}"
        self._next_id += 1
        future: "asyncio.Future[Any]" = self.loop.create_future()
        line = wire.encode_request(request_id, method, params)
        self._pending[request_id] = (method, future)
        try:
            # At once: the handler waits for the answer (what was gathered goes first).
            self._write(line, at_once=True)
            return await future
        finally:
            self._pending.pop(request_id, None)

    # Writing.

    def _write(self, line: bytes, at_once: bool = False) -> None:
        assert self._writer is not None, "the writer exists once run() has started"
        self._writer.write_line(line, at_once)

    def _answer(self, request_id: wire.RequestId, result: Any) -> None:
        try:
            line = wire.encode_result(request_id, result)
        except (TypeError, ValueError) as error:
            self._answer_error(
                request_id,
                {"code": INTERNAL_ERROR, "message": f"the result is not JSON: {error}"},
            )
            return
        self._write(line)

    def _answer_error(self, request_id: wire.RequestId, error: Dict[str, Any]) -> None:
        try:
            line = wire.encode_error(request_id, error)
        except (TypeError, ValueError) as problem:
            # The error's data was not JSON: keep the code and message.
            log_to_stderr(f"dropped error data that is not JSON: {problem}")
            line = wire.encode_error(
                request_id, {"code": error["code"], "message": str(error["message"])}
            )
        self._write(line)

    # Reading.

    def _on_overlong(self, size: int) -> None:
        log_to_stderr(
            f"discarded a line of {size} bytes from the host: longer than the "
            f"{wire.MAX_LINE_BYTES} byte limit"
        )

    def _on_line(self, line: bytes) -> None:
        try:
            message = wire.decode(line)
        except wire.DecodeError as error:
            log_to_stderr(
                f"ignored a malformed line from the host ({error.reason}): {_preview(line)}"
            )
            if error.id is not None:
                self._answer_error(error.id, {"code": INVALID_REQUEST, "message": error.reason})
            return
        try:
            if isinstance(message, wire.Request):
                self._on_request(message)
            elif isinstance(message, wire.Notification):
                self._on_notification(message)
            else:
                self._on_response(message)
        except Exception as error:  # A bug here must not lose the lines after this one.
            self._report_exception(f"handling {_preview(line)}", None, error)

    def _on_request(self, request: wire.Request) -> None:
        method = request.method
        if method == wire.PING:
            self._answer(request.id, {})
        elif method == wire.INITIALIZE:
            self._initialize(request)
        elif method == wire.SHUTDOWN:
            self.loop.create_task(self._shutdown(request))
        elif method not in HANDLER_METHODS:
            self._answer_error(request.id, not_implemented(method).to_error_object())
        elif self._stopping is not None:
            self._answer_error(
                request.id,
                {"code": JOB_FAILED, "message": f"the plugin is stopping ({self._stopping})"},
            )
        elif not self._initialized:
            self._answer_error(
                request.id,
                {"code": INVALID_REQUEST, "message": f"{method} before initialize"},
            )
        elif request.id in self._inflight:
            self._answer_error(
                request.id,
                {"code": INVALID_REQUEST, "message": f"request id {request.id!r} is in flight"},
            )
        else:
            self._start_handler(request)

    def _on_notification(self, notification: wire.Notification) -> None:
        if notification.method != wire.CANCEL:
            log_to_stderr(f"ignored unknown notification {notification.method!r}")
            return
        params = notification.params if isinstance(notification.params, dict) else {}
        request_id = params.get("requestId")
        if not isinstance(request_id, (int, str)) or not wire.is_request_id(request_id):
            log_to_stderr(f"ignored cancel without a valid requestId: {notification.params!r}")
            return
        inflight = self._inflight.get(request_id)
        if inflight is None:
            return  # It finished before the cancel arrived.
        reason = params.get("reason")
        self._cancel(inflight, reason if isinstance(reason, str) else None)

    def _on_response(self, response: wire.Response) -> None:
        pending = self._pending.pop(response.id, None) if isinstance(response.id, str) else None
        if pending is None:
            if not self._issued(response.id):
                log_to_stderr(f"ignored a response to unknown request {response.id!r}")
            return  # else: an answer to a call whose handler was cancelled meanwhile
        method, future = pending
        if future.done():
            return
        if response.error is not None:
            error = response.error
            future.set_exception(
                HostError(method, error["code"], error["message"], error.get("data"))
            )
        else:
            future.set_result(response.result)

    def _issued(self, request_id: wire.RequestId) -> bool:
        if not isinstance(request_id, str) or not request_id.startswith("p-"):
            return False
        number = request_id[2:]
        return number.isdigit() and 0 < int(number) < self._next_id

    def _on_eof(self) -> None:
        self._host_gone = True
        for method, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(
                    HostError(method, INTERNAL_ERROR, "the host closed the connection")
                )
        if self._stopping == "shutdown":
            return  # The shutdown in progress finishes and exits.
        self._stopping = "end of file"
        for inflight in list(self._inflight.values()):
            self._cancel(inflight, "the host closed the connection")
        self.loop.create_task(self._exit_after(_EOF_GRACE_SECONDS))

    async def _exit_after(self, grace_seconds: float) -> None:
        tasks = [inflight.task for inflight in self._inflight.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_seconds)
        self._finish(0)

    def _finish(self, code: int) -> None:
        if not self._finished.done():
            self._finished.set_result(code)

    # Lifecycle requests.

    def _initialize(self, request: wire.Request) -> None:
        # Synchronous up to metadata(), so that requests after initialize in the same read are
        # handled in order; only a coroutine metadata() is awaited in a task.
        try:
            params = read_initialize_params(request.params)
        except PluginError as error:
            self._answer_error(request.id, error.to_error_object())
            return
        refusal = unsupported_version(params.protocol_version)
        if refusal is not None:
            self._answer_error(request.id, refusal)
            return
        self._data_dir = params.data_dir
        self._initialized = True
        try:
            metadata = self._plugin.metadata()
        except Exception as error:
            self._report_exception("initialize", request.id, error)
            self._answer_error(request.id, _job_failed(error))
            return
        if inspect.isawaitable(metadata):
            self.loop.create_task(self._answer_initialize(request, metadata))
        else:
            self._answer_initialize_with(request, metadata)

    async def _answer_initialize(self, request: wire.Request, metadata: Awaitable[Any]) -> None:
        try:
            value = await metadata
        except Exception as error:
            self._report_exception("initialize", request.id, error)
            self._answer_error(request.id, _job_failed(error))
            return
        self._answer_initialize_with(request, value)

    def _answer_initialize_with(self, request: wire.Request, metadata: Any) -> None:
        try:
            result = initialize_result(self._identity, metadata)
        except MetadataError as error:
            log_to_stderr(f"initialize failed: {error}")
            self._answer_error(request.id, {"code": INTERNAL_ERROR, "message": str(error)})
            return
        self._answer(request.id, result)

    async def _shutdown(self, request: wire.Request) -> None:
        self._stopping = "shutdown"
        tasks = [inflight.task for inflight in self._inflight.values()]
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=self._plugin.shutdown_timeout)
            if unfinished:
                log_to_stderr(
                    f"shutdown: {len(unfinished)} request(s) still running after "
                    f"{self._plugin.shutdown_timeout} s; cancelling them"
                )
                for inflight in list(self._inflight.values()):
                    self._cancel(inflight, "the plugin is shutting down", force=True)
                await asyncio.wait(unfinished, timeout=_AFTER_CANCEL_GRACE_SECONDS)
        self._answer(request.id, {})
        self._finish(0)

    # Handler requests.

    def _cancel(self, inflight: _InFlight, reason: Optional[str], force: bool = False) -> None:
        context = inflight.context
        if reason and context.cancel_reason is None:
            context.cancel_reason = reason
        context.cancelled.set()
        # A coroutine stops at its next await. A plain handler runs on in its thread until it
        # checks ctx.cancelled; `force` stops waiting for it and answers "cancelled" now.
        if inflight.is_coroutine or force:
            inflight.task.cancel()

    def _start_handler(self, request: wire.Request) -> None:
        try:
            scope, call = prepare(self._plugin, request.method, request.params)
        except PluginError as error:
            log_to_stderr(f"{request.method} (request {request.id!r}) refused: {error.message}")
            self._answer_error(request.id, error.to_error_object())
            return
        context = Context(
            self,
            request.id,
            request.method,
            tenant=scope.tenant,
            job=scope.job,
            config=scope.config,
            trigger=scope.trigger,
            data_dir=self._data_dir,
        )
        is_coroutine = inspect.iscoroutinefunction(call.handler)
        task = self.loop.create_task(self._handle(request, context, call, is_coroutine))
        # Answering a cancelled task happens here, not in _handle: a task cancelled before its
        # first step never enters _handle's body.
        task.add_done_callback(functools.partial(self._handler_done, request.id, context))
        self._inflight[request.id] = _InFlight(context, task, is_coroutine)

    def _handler_done(
        self, request_id: wire.RequestId, context: Context, task: "asyncio.Task[None]"
    ) -> None:
        self._inflight.pop(request_id, None)
        if task.cancelled():
            self._answer_error(request_id, Cancelled(context.cancel_message()).to_error_object())

    async def _handle(
        self, request: wire.Request, context: Context, call: Call, is_coroutine: bool
    ) -> None:
        try:
            if is_coroutine:
                value = await call.handler(context, *call.arguments)
            else:
                value = await asyncio.wrap_future(
                    self._pool.submit(call.handler, context, *call.arguments), loop=self.loop
                )
                if inspect.isawaitable(value):
                    value = await value
        except PluginError as error:
            log_to_stderr(f"{request.method} (request {request.id!r}) failed: {error.message}")
            self._answer_error(request.id, error.to_error_object())
        except Exception as error:
            self._report_exception(request.method, request.id, error)
            self._answer_error(request.id, _job_failed(error))
        else:
            try:
                result = call.to_result(value)
            except (TypeError, ValueError) as error:
                log_to_stderr(f"{request.method} (request {request.id!r}): {error}")
                self._answer_error(request.id, {"code": INTERNAL_ERROR, "message": str(error)})
            else:
                self._answer(request.id, result)

    def _report_exception(
        self, what: str, request_id: Optional[wire.RequestId], error: BaseException
    ) -> None:
        import traceback

        where = f" (request {request_id!r})" if request_id is not None else ""
        log_to_stderr(f"{what}{where} raised:")
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        sys.stderr.flush()


def _job_failed(error: BaseException) -> Dict[str, Any]:
    return {"code": JOB_FAILED, "message": str(error) or type(error).__name__}
