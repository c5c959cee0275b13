"""A fake plugboard host for the SDK's tests: it spawns a plugin and speaks the protocol with it.

Owns: :class:`FakeHost`, which starts a plugin process the way the real host does (its package
folder as working directory, a cleared environment, optionally the address-space limit of
``limits.memory_mb``), sends requests and notifications, answers
the plugin's ``kv/*`` and ``emit`` requests from memory, records everything the plugin writes
(with arrival times) and lets a test wait for a message with a deadline. Every stdout line that
is not a JSON-RPC message is kept in ``bad_lines``: a test that expects a clean protocol checks
that it stays empty. :meth:`FakeHost.close` kills and reaps the process.

Must not touch: the SDK's internals. It speaks only the wire protocol, as the real host does.
"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

TESTS_DIR = Path(__file__).resolve().parent
SDK_DIR = TESTS_DIR.parent
REPO_ROOT = SDK_DIR.parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples" / "plugins"
SCRIPTED_DIR = TESTS_DIR / "plugins" / "scripted"

DEADLINE_SECONDS = 15.0
"""How long any wait lasts before the test fails; generous, since nothing waits for it on
success."""

Message = Dict[str, Any]


class FakeHost:
    """One plugin process and the host side of its protocol."""

    def __init__(self, package_dir: Path, *arguments: str, memory_mb: Optional[int] = None) -> None:
        self.kv: Dict[Tuple[Optional[str], str], Any] = {}
        self.emitted: List[Message] = []
        self.kv_error: Optional[Message] = None
        """When set, the error object every kv request is answered with."""
        self.answer_with: Optional[Callable[[Message], Optional[Message]]] = None
        """When set, answers the plugin's requests first (a whole response message); returning
        ``None`` falls back to the in-memory store."""
        self.responses: Dict[Any, Tuple[float, Message]] = {}
        self.notifications: List[Tuple[float, Message]] = []
        self.plugin_requests: List[Message] = []
        self.bad_lines: List[bytes] = []
        self.stderr_lines: List[str] = []
        self._streams_closed = 0
        self._changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._next_id = 1
        self.spawned_at = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "main.py", *arguments],
            cwd=package_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={},  # the real host clears the environment too
            preexec_fn=None if memory_mb is None else _address_space_limit(memory_mb),
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # Life cycle.

    def close(self) -> None:
        """Kills the plugin if it still runs, reaps it and closes the pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE_SECONDS)
        for thread in self._threads:
            thread.join(timeout=DEADLINE_SECONDS)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass  # The plugin exited with bytes of ours still unread: nothing to flush.

    def __enter__(self) -> "FakeHost":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close_stdin(self) -> None:
        """End of file for the plugin."""
        with self._write_lock:
            assert self.process.stdin is not None
            self.process.stdin.close()

    def wait_exit(self) -> int:
        """The plugin's exit code, once it exits (fails the test after the deadline)."""
        try:
            return self.process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the plugin did not exit; stderr:\n{self.stderr_text()}"
            ) from None

    def stderr_text(self) -> str:
        """What the plugin wrote to stderr so far."""
        with self._changed:
            return "".join(self.stderr_lines)

    # Sending.

    def send_raw(self, data: bytes) -> None:
        """Writes bytes to the plugin's stdin as they are."""
        with self._write_lock:
            assert self.process.stdin is not None
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def send(self, message: Message) -> None:
        """Writes one message as one line."""
        self.send_raw(json.dumps(message).encode("utf-8") + b"\n")

    def request(self, method: str, params: Optional[Message] = None) -> int:
        """Sends a request; returns its id."""
        with self._write_lock:
            request_id = self._next_id
            self._next_id += 1
        message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return request_id

    def notify(self, method: str, params: Message) -> None:
        """Sends a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def call(self, method: str, params: Optional[Message] = None) -> Message:
        """Sends a request and waits for its response."""
        return self.wait_response(self.request(method, params))

    def initialize(self, protocol_version: int = 1) -> Message:
        """The handshake; returns the plugin's response."""
        return self.call(
            "initialize",
            {
                "protocolVersion": protocol_version,
                "host": {"name": "plugboard", "version": "0.0.0-test"},
                "dataDir": str(TESTS_DIR),
            },
        )

    def run(
        self,
        payload: Any = None,
        *,
        tenant: Optional[str] = "acme",
        config_values: Optional[Message] = None,
        trigger: Optional[Message] = None,
        job_id: int = 1,
    ) -> int:
        """Sends a ``run``; returns its request id."""
        params: Message = {
            "job": {"id": job_id, "attempt": 1, "maxAttempts": 3},
            "trigger": trigger or {"kind": "manual"},
            "payload": payload,
        }
        if tenant is not None:
            params["tenant"] = tenant
        if config_values is not None:
            params["config"] = {"id": "cfg-1", "name": "main", "values": config_values}
        return self.request("run", params)

    # Waiting.

    def wait_for(self, condition: Callable[[], Any], what: str) -> Any:
        """Waits until ``condition()`` is truthy and returns it; fails after the deadline."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        with self._changed:
            while True:
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._streams_closed == 2:
                    raise AssertionError(
                        f"no {what} (the plugin "
                        f"{'exited' if self._streams_closed == 2 else 'is still running'}); "
                        f"its stderr:\n{''.join(self.stderr_lines)}"
                    )
                self._changed.wait(remaining)

    def wait_stderr(self, text: str) -> None:
        """Waits until the plugin's stderr contains ``text`` (stderr is a separate pipe: it is
        not ordered with stdout)."""
        self.wait_for(lambda: text in self.stderr_text(), f"{text!r} on stderr")

    def wait_response(self, request_id: Any) -> Message:
        """The response to ``request_id``."""
        return self.wait_for(
            lambda: self.responses.get(request_id, (0, None))[1], f"the response to {request_id}"
        )

    def take_response(self, request_id: Any) -> Message:
        """The response to ``request_id``, forgotten once read (for ids sent again)."""
        response = self.wait_response(request_id)
        with self._changed:
            del self.responses[request_id]
        return response

    def response_time(self, request_id: Any) -> float:
        """When the response to ``request_id`` arrived (``time.monotonic()``)."""
        return self.responses[request_id][0]

    def notifications_of(self, request_id: Any, method: Optional[str] = None) -> List[Message]:
        """The notifications that carry ``requestId`` equal to ``request_id``."""
        with self._changed:
            return [
                message
                for _, message in self.notifications
                if (message.get("params") or {}).get("requestId") == request_id
                and (method is None or message["method"] == method)
            ]

    def wait_log(self, request_id: Any, text: str) -> Message:
        """Waits for a ``log`` of ``request_id`` whose message contains ``text``."""
        return self.wait_for(
            lambda: next(
                (
                    message
                    for message in self.notifications_of(request_id, "log")
                    if text in message["params"]["message"]
                ),
                None,
            ),
            f"a log of request {request_id} containing {text!r}",
        )

    # Reading.

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            now = time.monotonic()
            try:
                message = json.loads(line)
                if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
                    raise ValueError("not a JSON-RPC message")
            except ValueError:
                with self._changed:
                    self.bad_lines.append(line)
                    self._changed.notify_all()
                continue
            if "method" in message and "id" in message:
                self._answer_plugin_request(message)
            with self._changed:
                if "method" in message and "id" not in message:
                    self.notifications.append((now, message))
                elif "method" not in message:
                    self.responses[message.get("id")] = (now, message)
                self._changed.notify_all()
        with self._changed:
            self._streams_closed += 1
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.stderr_lines.append(line.decode("utf-8", "replace"))
                self._changed.notify_all()
        with self._changed:
            self._streams_closed += 1
            self._changed.notify_all()

    def _answer_plugin_request(self, message: Message) -> None:
        with self._changed:
            self.plugin_requests.append(message)
        scripted = self.answer_with(message) if self.answer_with is not None else None
        if scripted is not None:
            self._send_answer(scripted)
            return
        method, params = message["method"], message.get("params") or {}
        key = (params.get("tenant"), str(params.get("key")))
        error: Optional[Message] = None
        result: Any = None
        if method.startswith("kv/") and self.kv_error is not None:
            error = self.kv_error
        elif method == "kv/get":
            result = {"value": self.kv.get(key)}
        elif method == "kv/set":
            self.kv[key] = params["value"]
            result = {}
        elif method == "kv/delete":
            result = {"deleted": self.kv.pop(key, None) is not None}
        elif method == "kv/list":
            items = sorted(
                (k, v)
                for (t, k), v in self.kv.items()
                if t == params.get("tenant") and k.startswith(params.get("prefix", ""))
            )
            result = {"items": [{"key": k, "value": v} for k, v in items]}
        elif method == "emit":
            with self._changed:
                self.emitted.append(params)
                result = {"eventId": f"evt-{len(self.emitted)}"}
        else:
            error = {"code": -32601, "message": f"unknown method {method!r}"}
        answer: Message = {"jsonrpc": "2.0", "id": message["id"]}
        if error is not None:
            answer["error"] = error
        else:
            answer["result"] = result
        self._send_answer(answer)

    def _send_answer(self, answer: Message) -> None:
        try:
            self.send(answer)
        except (BrokenPipeError, ValueError):
            pass  # The plugin exited or stdin was closed on purpose: nobody to answer.


def _address_space_limit(memory_mb: int) -> Callable[[], None]:
    """What the host does with the manifest's ``limits.memory_mb``, run in the child."""

    def limit() -> None:
        import resource

        limit_bytes = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return limit


def example_dir(name: str) -> Path:
    """The package folder of one of the example plugins."""
    return EXAMPLES_DIR / name
