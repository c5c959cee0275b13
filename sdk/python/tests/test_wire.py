"""Unit tests of the pieces without a process: the decoder, the line splitter and writer,
metadata checks.

Owns: the decoder's agreement with the Rust ``Message::decode`` rules on edge cases, the
encoder's errors (those of ``json.dumps``), line framing (split reads, ``\\r\\n``, overlong lines,
a last line without ``\\n``), the writer's gathering of a pass of the loop into one write (and
the lines that leave at once, in order) and the messages of metadata mistakes.
"""

import asyncio
import os
import sys
import threading
import unittest
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugboard import wire  # noqa: E402
from plugboard.metadata import MetadataError, normalize_metadata  # noqa: E402
from plugboard.transport import LineSplitter, LineWriter  # noqa: E402


class DecodeTests(unittest.TestCase):
    def test_kinds(self) -> None:
        self.assertEqual(
            wire.decode(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}'),
            wire.Request(1, "ping", {}),
        )
        self.assertEqual(
            wire.decode('{"jsonrpc":"2.0","method":"cancel"}'), wire.Notification("cancel", None)
        )
        self.assertEqual(
            wire.decode('{"jsonrpc":"2.0","id":"p-1","result":{}}'), wire.Response("p-1", {}, None)
        )
        self.assertEqual(
            wire.decode('{"jsonrpc":"2.0","id":"p-1","result":null}'),
            wire.Response("p-1", None, None),
        )
        error = {"code": -32010, "message": "down"}
        self.assertEqual(
            wire.decode('{"jsonrpc":"2.0","id":3,"error":{"code":-32010,"message":"down"}}'),
            wire.Response(3, None, error),
        )

    def test_faults(self) -> None:
        cases = {
            b"nope": ("not a JSON-RPC message", None),
            b"\xff": ("not a JSON-RPC message", None),
            b"[1]": ("not a JSON-RPC message", None),
            b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}': (
                "the id must be a number or a string",
                None,
            ),
            b'{"jsonrpc":"2.0","id":true,"method":"ping"}': (
                "the id must be a number or a string",
                None,
            ),
            b'{"id":4,"method":"ping"}': ('the message lacks "jsonrpc": "2.0"', 4),
            b'{"jsonrpc":"2.0","id":5,"method":"run","params":3}': ("params must be an object", 5),
            b'{"jsonrpc":"2.0","id":6,"method":7}': ("the method must be a string", 6),
            b'{"jsonrpc":"2.0","id":7,"method":"ping","result":null}': (
                "a request cannot carry a result or an error",
                7,
            ),
            b'{"jsonrpc":"2.0","id":8}': ("a response needs a result or an error", None),
            b'{"jsonrpc":"2.0","id":9,"result":1,"error":{"code":1,"message":"x"}}': (
                "a response cannot carry both a result and an error",
                None,
            ),
            b'{"jsonrpc":"2.0","id":10,"error":{"code":"x","message":"x"}}': (
                "malformed error object: `code` must be an integer",
                None,
            ),
            b'{"jsonrpc":"2.0"}': ("a message needs a method (request) or an id (response)", None),
        }
        for line, (reason, request_id) in cases.items():
            with self.subTest(line), self.assertRaises(wire.DecodeError) as raised:
                wire.decode(line)
            self.assertTrue(raised.exception.reason.startswith(reason), raised.exception.reason)
            self.assertEqual(raised.exception.id, request_id)

    def test_encoding_is_one_compact_utf8_line(self) -> None:
        line = wire.encode_notification("log", {"level": "info", "message": "héllo\nworld"})
        self.assertEqual(
            line,
            b'{"jsonrpc":"2.0","method":"log","params":'
            + '{"level":"info","message":"héllo\\nworld"}}\n'.encode(),
        )
        with self.assertRaises(ValueError):
            wire.encode_result(1, float("nan"))

    def test_encoding_errors_are_json_dumps_errors(self) -> None:
        looped: List[object] = []
        looped.append(looped)
        with self.assertRaisesRegex(ValueError, "Circular reference"):
            wire.encode_result(1, looped)
        with self.assertRaisesRegex(TypeError, "not JSON serializable"):
            wire.encode_result(1, {"when": object()})

    def test_lines_with_spaces_around_decode(self) -> None:
        self.assertEqual(
            wire.decode(b' {"jsonrpc":"2.0","method":"x"}\r'), wire.Notification("x", None)
        )


class WriterTests(unittest.TestCase):
    def setUp(self) -> None:
        self.read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, self.read_fd)
        self.addCleanup(os.close, write_fd)
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)
        self.writer = LineWriter(write_fd, self.loop, threading.get_ident())

    def written(self) -> bytes:
        os.set_blocking(self.read_fd, False)
        try:
            return os.read(self.read_fd, 65536)
        except BlockingIOError:
            return b""

    def test_lines_of_one_pass_of_the_loop_leave_together_after_it(self) -> None:
        def one_pass() -> None:
            self.writer.write_line(b"a\n")
            self.writer.write_line(b"b\n")
            self.assertEqual(self.written(), b"")

        self.loop.call_soon(one_pass)
        self.loop.run_until_complete(asyncio.sleep(0.01))
        self.assertEqual(self.written(), b"a\nb\n")

    def test_a_line_at_once_or_from_another_thread_leaves_now_behind_the_gathered(self) -> None:
        def one_pass() -> None:
            self.writer.write_line(b"a\n")
            self.writer.write_line(b"request\n", at_once=True)
            self.assertEqual(self.written(), b"a\nrequest\n")
            self.writer.write_line(b"b\n")
            other = threading.Thread(target=self.writer.write_line, args=(b"c\n",))
            other.start()
            other.join()
            self.assertEqual(self.written(), b"b\nc\n")
            self.writer.write_line(b"d\n")

        self.loop.call_soon(one_pass)
        self.loop.run_until_complete(asyncio.sleep(0.01))
        self.assertEqual(self.written(), b"d\n")

    def test_flush_writes_what_is_gathered(self) -> None:
        self.writer.write_line(b"y\n")  # on the loop's thread, the loop not running
        self.assertEqual(self.written(), b"")
        self.writer.flush()
        self.assertEqual(self.written(), b"y\n")


class SplitterTests(unittest.TestCase):
    def split(self, *chunks: bytes, limit: int = 16) -> tuple:
        lines: List[bytes] = []
        overlong: List[int] = []
        splitter = LineSplitter(lines.append, overlong.append, max_line_bytes=limit)
        for chunk in chunks:
            splitter.feed(chunk)
        splitter.finish()
        return lines, overlong

    def test_lines_across_chunks(self) -> None:
        self.assertEqual(
            self.split(b"ab", b"c\nde\n\n", b"f\r\n", b"g"), ([b"abc", b"de", b"f\r", b"g"], [])
        )

    def test_overlong_lines_are_dropped_whole(self) -> None:
        self.assertEqual(self.split(b"x" * 10, b"y" * 10, b"z\nok\n"), ([b"ok"], [21]))
        self.assertEqual(self.split(b"x" * 17 + b"\nok\n"), ([b"ok"], [17]))
        self.assertEqual(self.split(b"x" * 16 + b"\n"), ([b"x" * 16], []))


class MetadataTests(unittest.TestCase):
    def test_defaults_are_filled_in(self) -> None:
        self.assertEqual(
            normalize_metadata(None), {"events": [], "routes": [], "ui": [], "tools": []}
        )
        tools = normalize_metadata({"tools": [{"name": "t"}]})["tools"]
        self.assertEqual(
            tools, [{"name": "t", "description": "", "inputSchema": {"type": "object"}}]
        )

    def test_mistakes_are_named(self) -> None:
        cases = [
            (
                {"config_schema": {}},
                "metadata has unknown key 'config_schema'; did you mean 'configSchema'?",
            ),
            ({"schedule": {"interval_seconds": 5}}, "did you mean 'intervalSeconds'?"),
            (
                {"schedule": {"intervalSeconds": 0}},
                "metadata.schedule.intervalSeconds must be a positive integer",
            ),
            (
                {"routes": [{"method": "GET", "path": "/", "auth": "everyone"}]},
                "metadata.routes[0].auth must be one of public, tenant, admin",
            ),
            (
                {"tools": [{"description": "x"}]},
                "metadata.tools[0].name must be a non-empty string",
            ),
            ({"events": "a.*"}, "metadata.events must be a list"),
            ([], "metadata() must return a dict, got list"),
        ]
        for metadata, message in cases:
            with self.subTest(message), self.assertRaises(MetadataError) as raised:
                normalize_metadata(metadata)
            self.assertIn(message, str(raised.exception))


if __name__ == "__main__":
    unittest.main()
