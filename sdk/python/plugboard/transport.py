"""Stdio transport: protocol lines in on stdin, out on stdout, and nothing else on either.

Owns:

- :func:`take_stdio`: moves the protocol's pipes to private file descriptors, points fd 1 (and
  ``sys.stdout``) at stderr and fd 0 (and ``sys.stdin``) at ``/dev/null``, so that ``print()``
  in a handler, or a child process it starts, cannot corrupt the protocol or eat its input;
- :class:`LineWriter`: whole ``\\n``-terminated lines from any thread; the answers and logs
  the event loop's thread writes in one pass of the loop leave together in one write after it;
- :class:`LineSplitter` and :func:`start_reading`: bytes from stdin cut into lines on the event
  loop. A pipe is read by the loop itself (no thread hop); anything else (a regular file) by
  one reader thread that hands over whole chunks, not single lines. A line longer than
  :data:`~plugboard.wire.MAX_LINE_BYTES` is discarded and reported.

Must not touch: JSON. Lines are bytes here.
"""

import asyncio
import errno
import os
import sys
import threading
from typing import Callable, List, NamedTuple, Optional

from .wire import MAX_LINE_BYTES

_READ_SIZE = 64 * 1024
"""The most bytes one read from the host takes."""


def log_to_stderr(message: str) -> None:
    """One line of the SDK's own log on stderr (the plugin's log, which the host captures)."""
    try:
        sys.stderr.write(f"plugboard: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr is closed: there is nowhere left to report to.


class Stdio(NamedTuple):
    """The protocol's private file descriptors."""

    read_fd: int
    write_fd: int


def take_stdio() -> Stdio:
    """Moves the protocol to private descriptors and gives user code harmless fds 0 and 1.

    After this, fd 1 and ``sys.stdout`` write to stderr, and fd 0 and ``sys.stdin`` read
    ``/dev/null``. The private descriptors are not inherited by child processes.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # A closed or replaced stream has nothing of ours buffered.
    read_fd = os.dup(0)
    write_fd = os.dup(1)
    os.dup2(2, 1)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    sys.stdout = sys.stderr
    sys.stdin = open(os.devnull, encoding="utf-8")
    return Stdio(read_fd, write_fd)


class LineWriter:
    """Writes whole lines to the protocol's pipe, safely from any thread.

    With a ``loop``, lines written on the loop's thread are gathered and written together by a
    callback the loop runs next: the answers and logs that one pass of the loop makes leave in
    one ``write``, which wakes the host once instead of once per line. A line written ``at_once``
    (a request a handler waits for) leaves now, with the lines gathered before it. Lines from
    other threads are written at once too, behind any gathered lines: lines always leave in the
    order they were written. :meth:`flush` writes what is gathered now.

    A write after the host closed the pipe is dropped (reported once on stderr): the host is
    gone, and the reader sees end of file and stops the plugin.
    """

    def __init__(
        self, fd: int, loop: Optional[asyncio.AbstractEventLoop] = None, loop_thread: int = 0
    ) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._broken = False
        self._loop = loop
        self._loop_thread = loop_thread  # threading.get_ident() of the thread running the loop
        self._gathered: List[bytes] = []

    def write_line(self, line: bytes, at_once: bool = False) -> None:
        """Writes ``line``, which ends with ``\\n``, in one piece."""
        with self._lock:
            self._gathered.append(line)
            if at_once or not self._on_loop_thread():
                self._flush()  # now, behind what was gathered
            elif len(self._gathered) == 1:
                # The first line of this pass: flush once the loop has run what is ready.
                try:
                    self._loop.call_soon(self.flush)  # type: ignore[union-attr]
                except RuntimeError:  # the loop is closed: nothing would flush
                    self._flush()

    def flush(self) -> None:
        """Writes the gathered lines now."""
        with self._lock:
            self._flush()

    def _on_loop_thread(self) -> bool:
        return self._loop is not None and threading.get_ident() == self._loop_thread

    def _flush(self) -> None:
        # Under the lock.
        if self._gathered:
            data = b"".join(self._gathered)
            self._gathered.clear()
            self._write(data)

    def _write(self, data: bytes) -> None:
        # Under the lock.
        if self._broken:
            return
        view = memoryview(data)
        try:
            while view:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:
                    import select

                    select.select([], [self._fd], [])
                    continue
                view = view[written:]
        except OSError as error:
            self._broken = True
            if error.errno == errno.EPIPE:
                log_to_stderr("the host closed the protocol pipe; messages are dropped")
            else:
                log_to_stderr(f"writing to the host failed ({error}); messages are dropped")


class LineSplitter:
    """Cuts a byte stream into lines and hands each (without ``\\n``) to ``on_line``.

    A line over ``max_line_bytes`` is dropped whole and reported through ``on_overlong``.
    """

    def __init__(
        self,
        on_line: Callable[[bytes], None],
        on_overlong: Callable[[int], None],
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self._on_line = on_line
        self._on_overlong = on_overlong
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._skipped = 0  # bytes of an overlong line being dropped, 0 when not dropping

    def feed(self, data: bytes) -> None:
        """Takes the next bytes of the stream."""
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._skipped:
                self._on_overlong(self._skipped + end - start)
                self._skipped = 0
            elif self._buffer:
                self._buffer += data[start:end]
                line = bytes(self._buffer)
                self._buffer.clear()
                self._emit(line)
            else:
                self._emit(data[start:end])
            start = end + 1
        rest = len(data) - start
        if self._skipped:
            self._skipped += rest
        elif rest:
            self._buffer += data[start:]
            if len(self._buffer) > self._max:
                self._skipped = len(self._buffer)
                self._buffer.clear()

    def _emit(self, line: bytes) -> None:
        if len(line) > self._max:
            self._on_overlong(len(line))
        elif line.strip():
            self._on_line(line)

    def finish(self) -> None:
        """End of stream: a last line without ``\\n`` still counts."""
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            self._emit(line)
        elif self._skipped:
            self._on_overlong(self._skipped)
        self._skipped = 0


class _PipeProtocol(asyncio.Protocol):
    def __init__(self, splitter: LineSplitter, on_eof: Callable[[], None]) -> None:
        self._splitter = splitter
        self._on_eof = on_eof
        self._ended = False

    def data_received(self, data: bytes) -> None:
        self._splitter.feed(data)

    def eof_received(self) -> Optional[bool]:
        self._end()
        return None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._splitter.finish()
            self._on_eof()


async def start_reading(
    loop: asyncio.AbstractEventLoop, fd: int, splitter: LineSplitter, on_eof: Callable[[], None]
) -> Optional[asyncio.BaseTransport]:
    """Starts feeding ``splitter`` from ``fd`` on ``loop``; ``on_eof`` runs once at the end.

    Returns the pipe transport to close at exit, or ``None`` when a reader thread reads.
    """
    pipe = os.fdopen(fd, "rb", buffering=0, closefd=False)
    try:
        transport, _ = await loop.connect_read_pipe(lambda: _PipeProtocol(splitter, on_eof), pipe)
        # asyncio reads a pipe 256 KiB at a time. glibc serves a buffer that big with mmap, and
        # shrinking it to the bytes read with mremap, so each read cost three more system calls;
        # 64 KiB comes from the heap. (max_size is the pipe transport's, where it has one.)
        if hasattr(transport, "max_size"):
            transport.max_size = _READ_SIZE  # type: ignore[attr-defined]
        return transport
    except (ValueError, OSError, NotImplementedError):
        pass  # Not a pipe (a regular file, or a platform without pipe transports).
    protocol = _PipeProtocol(splitter, on_eof)

    def read_chunks() -> None:
        while True:
            try:
                chunk = os.read(fd, _READ_SIZE)
            except OSError as error:
                log_to_stderr(f"reading from the host failed: {error}")
                chunk = b""
            try:
                if not chunk:
                    loop.call_soon_threadsafe(protocol.eof_received)
                    return
                loop.call_soon_threadsafe(protocol.data_received, chunk)
            except RuntimeError:
                return  # The loop is closed: the plugin is exiting.

    threading.Thread(target=read_chunks, name="plugboard-stdin", daemon=True).start()
    return None
