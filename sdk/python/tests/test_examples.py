"""The example plugins in ``examples/plugins/``, driven by the fake host as the real host will.

Owns: what the examples promise (their metadata, results, logs, events and errors), checked
against a local HTTP server for ``uptime-python`` and the fake host's in-memory kv for
``counter-python``. Each example is started from its own folder with a cleared environment, so
these tests also prove that ``main.py`` finds the SDK without ``PYTHONPATH``.
"""

import http.server
import socket
import sys
import threading
import unittest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_host import DEADLINE_SECONDS, FakeHost, example_dir  # noqa: E402


class _Site(http.server.ThreadingHTTPServer):
    """A local site: ``/ok`` answers 200, ``/broken`` 503, ``/slow`` waits for ``release``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.release = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # A plugin killed mid-request breaks the pipe: expected here, not worth a traceback.

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _SiteHandler(http.server.BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/slow":
            self.server.release.wait(DEADLINE_SECONDS)
        status = 503 if self.path == "/broken" else 200
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Keep the test output quiet.


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class UptimeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.site = _Site()
        thread = threading.Thread(target=self.site.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, DEADLINE_SECONDS)
        self.addCleanup(self.site.server_close)
        self.addCleanup(self.site.shutdown)
        self.addCleanup(self.site.release.set)
        self.host = FakeHost(example_dir("uptime-python"))
        self.addCleanup(self.host.close)
        self.metadata = self.host.initialize()["result"]["metadata"]

    def run_check(self, **values: Any) -> dict:
        return self.host.wait_response(self.host.run(config_values=values, job_id=9))

    def test_metadata(self) -> None:
        schema = self.metadata["configSchema"]
        self.assertEqual(schema["required"], ["url"])
        self.assertEqual(
            schema["properties"]["url"],
            {"type": "string", "format": "uri", "description": "The http(s) URL to check."},
        )
        self.assertEqual(schema["properties"]["timeout_seconds"]["default"], 5)
        self.assertEqual(schema["properties"]["expect_status"]["default"], 200)
        self.assertEqual(self.metadata["schedule"], {"intervalSeconds": 60})

    def test_an_up_site(self) -> None:
        response = self.run_check(url=self.site.url("/ok"))
        result = response["result"]["result"]
        self.assertEqual((result["status"], result["up"]), (200, True))
        self.assertIsInstance(result["ms"], int)
        log = self.host.notifications_of(response["id"], "log")[0]["params"]
        self.assertEqual(log["level"], "info")
        self.assertIn("answered 200", log["message"])
        self.assertEqual(self.host.emitted, [])

    def test_a_down_site_emits_uptime_down(self) -> None:
        response = self.run_check(url=self.site.url("/broken"))
        self.assertEqual(
            {k: v for k, v in response["result"]["result"].items() if k != "ms"},
            {"status": 503, "up": False},
        )
        self.assertEqual(
            self.host.notifications_of(response["id"], "log")[0]["params"]["level"], "error"
        )
        (event,) = self.host.emitted
        self.assertEqual((event["tenant"], event["type"]), ("acme", "uptime.down"))
        self.assertEqual(event["payload"]["url"], self.site.url("/broken"))
        self.assertEqual(event["payload"]["error"], "status 503, expected 200")
        self.assertEqual(event["idempotencyKey"], "uptime-python:9")

    def test_expect_status(self) -> None:
        response = self.run_check(url=self.site.url("/broken"), expect_status=503)
        self.assertTrue(response["result"]["result"]["up"])

    def test_a_refused_connection_is_down_without_status(self) -> None:
        result = self.run_check(url=_closed_port_url())["result"]["result"]
        self.assertEqual((result["status"], result["up"]), (None, False))
        self.assertEqual(len(self.host.emitted), 1)

    def test_a_slow_site_is_down_after_the_timeout(self) -> None:
        result = self.run_check(url=self.site.url("/slow"), timeout_seconds=0.2)["result"]["result"]
        self.assertEqual((result["status"], result["up"]), (None, False))
        self.assertIn("no answer within 0.2 s", self.host.emitted[0]["payload"]["error"])

    def test_cancel_stops_a_check_in_flight(self) -> None:
        request_id = self.host.run(
            config_values={"url": self.site.url("/slow"), "timeout_seconds": 60}
        )
        self.host.notify("cancel", {"requestId": request_id, "reason": "deadline passed"})
        error = self.host.wait_response(request_id)["error"]
        self.assertEqual(error, {"code": -32002, "message": "cancelled: deadline passed"})

    def test_an_invalid_url_is_not_retryable(self) -> None:
        error = self.run_check(url="ftp://example.com/file")["error"]
        self.assertEqual(error["code"], -32001)
        self.assertEqual(error["data"], {"retryable": False})
        self.assertIn("not an http or https URL", error["message"])

    def test_config_validate_and_test(self) -> None:
        bad = self.host.call("config/validate", {"tenant": "acme", "values": {"url": "nope"}})[
            "result"
        ]
        self.assertFalse(bad["valid"])
        self.assertEqual(bad["errors"][0]["path"], "/url")
        good = self.host.call("config/validate", {"values": {"url": self.site.url("/ok")}})[
            "result"
        ]
        self.assertEqual(good, {"valid": True, "errors": []})
        tested = self.host.call("config/test", {"values": {"url": self.site.url("/ok")}})["result"]
        self.assertTrue(tested["ok"], tested)
        self.assertIn("answered 200", tested["message"])
        failed = self.host.call("config/test", {"values": {"url": self.site.url("/broken")}})[
            "result"
        ]
        self.assertFalse(failed["ok"])


class CounterTests(unittest.TestCase):
    def setUp(self) -> None:
        self.host = FakeHost(example_dir("counter-python"))
        self.addCleanup(self.host.close)
        self.metadata = self.host.initialize()["result"]["metadata"]

    def test_metadata(self) -> None:
        self.assertEqual(self.metadata["events"], ["counter.*"])
        self.assertEqual([tool["name"] for tool in self.metadata["tools"]], ["counter_get"])

    def test_counts_runs_per_tenant(self) -> None:
        for expected in (1, 2, 3):
            response = self.host.wait_response(self.host.run(tenant="acme"))
            self.assertEqual(response["result"], {"result": {"count": expected}})
        event = {"kind": "event", "event": {"id": "e1", "type": "counter.bump", "payload": {}}}
        response = self.host.wait_response(self.host.run(tenant="globex", trigger=event))
        self.assertEqual(response["result"], {"result": {"count": 1}})
        self.host.wait_log(response["id"], "on event counter.bump")
        self.assertEqual(self.host.kv, {("acme", "count"): 3, ("globex", "count"): 1})

    def test_concurrent_runs_of_one_tenant_count_exactly(self) -> None:
        request_ids = [self.host.run(tenant="acme", job_id=n) for n in range(8)]
        counts = sorted(
            self.host.wait_response(r)["result"]["result"]["count"] for r in request_ids
        )
        self.assertEqual(counts, list(range(1, 9)))

    def test_counter_get_tool(self) -> None:
        self.host.wait_response(self.host.run(tenant="acme"))
        answer = self.host.call(
            "tools/call", {"name": "counter_get", "arguments": {}, "tenant": "acme"}
        )
        self.assertEqual(
            answer["result"], {"content": [{"type": "text", "text": "1"}], "isError": False}
        )
        empty = self.host.call("tools/call", {"name": "counter_get", "tenant": "globex"})
        self.assertEqual(empty["result"]["content"][0]["text"], "0")
        self.assertEqual(self.host.call("tools/call", {"name": "nope"})["error"]["code"], -32602)


if __name__ == "__main__":
    unittest.main()
