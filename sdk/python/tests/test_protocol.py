"""End-to-end tests of the SDK's protocol side: the scripted plugin driven by the fake host.

Owns: what a host sees from a Python plugin (handshake, results, errors and their codes, log
and progress notifications, kv and emit round trips, concurrency, cancellation, stdout hygiene,
malformed input, shutdown and end of file), once with plain handlers and once with coroutines.
"""

import base64
import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_host import SCRIPTED_DIR, TESTS_DIR, FakeHost  # noqa: E402


class ScriptedPluginTests(unittest.TestCase):
    """Tests that hold for plain handlers; the subclass runs them against coroutines."""

    ARGUMENTS: tuple = ()

    def spawn(self, initialize: bool = True) -> FakeHost:
        host = FakeHost(SCRIPTED_DIR, *self.ARGUMENTS)
        self.addCleanup(host.close)
        if initialize:
            response = host.initialize()
            self.assertIn("result", response, response)
        return host

    def assert_error(self, response: dict, code: int) -> dict:
        self.assertIn("error", response, f"expected error {code}, got {response}")
        self.assertEqual(response["error"]["code"], code, response)
        return response["error"]

    def test_initialize_answers_identity_and_metadata(self) -> None:
        host = self.spawn(initialize=False)
        result = host.initialize()["result"]
        self.assertEqual(result["protocolVersion"], 1)
        self.assertEqual(
            result["plugin"], {"id": "scripted", "name": "Scripted", "version": "1.0.0"}
        )
        metadata = result["metadata"]
        self.assertEqual(metadata["events"], ["scripted.*"])
        self.assertEqual(metadata["schedule"], {"intervalSeconds": 30})
        self.assertEqual(
            metadata["routes"],
            [
                {"method": "GET", "path": "/hello/{name}", "auth": "public"},
                {"method": "GET", "path": "/hello/ui", "auth": "public"},
            ],
        )
        self.assertEqual(metadata["ui"], [{"id": "main", "title": "Scripted", "path": "/hello/ui"}])
        self.assertEqual(metadata["tools"][0]["name"], "echo")
        self.assertIn("configSchema", metadata)

    def test_run_result_carries_what_the_run_received(self) -> None:
        host = self.spawn()
        request_id = host.run({"do": "echo", "n": 7}, config_values={"name": "x"}, job_id=42)
        result = host.wait_response(request_id)["result"]["result"]
        self.assertEqual(result["requestId"], request_id)
        self.assertEqual(result["tenant"], "acme")
        self.assertEqual(result["jobId"], 42)
        self.assertEqual(result["config"], {"name": "x"})
        self.assertEqual(result["trigger"], "manual")
        self.assertEqual(result["payload"], {"do": "echo", "n": 7})
        self.assertEqual(result["dataDir"], str(TESTS_DIR))
        expected_thread = "MainThread" if self.ARGUMENTS else "plugboard-handler"
        self.assertTrue(result["thread"].startswith(expected_thread), result["thread"])

    def test_event_and_schedule_triggers_are_read(self) -> None:
        host = self.spawn()
        event = {"kind": "event", "event": {"id": "e1", "type": "scripted.hit", "payload": {}}}
        by_event = host.wait_response(host.run({"do": "echo"}, trigger=event))["result"]["result"]
        self.assertEqual((by_event["trigger"], by_event["event"]), ("event", "scripted.hit"))
        schedule = {"kind": "schedule", "fireTime": "2025-01-01T00:00:00Z"}
        by_schedule = host.wait_response(host.run({"do": "echo"}, trigger=schedule))["result"][
            "result"
        ]
        self.assertEqual(by_schedule["fireTime"], "2025-01-01T00:00:00Z")

    def test_log_and_progress_carry_the_request_id(self) -> None:
        host = self.spawn()
        first, second = host.run({"do": "log"}), host.run({"do": "log"})
        for request_id in (first, second):
            self.assertEqual(host.wait_response(request_id)["result"], {"result": {"logged": True}})
            logs = [m["params"] for m in host.notifications_of(request_id, "log")]
            self.assertEqual(
                [(log["level"], log["message"]) for log in logs[1:]],
                [
                    ("debug", "debug line"),
                    ("info", "info line"),
                    ("warn", "warn line"),
                    ("error", "error line"),
                ],
            )
            progress = [m["params"] for m in host.notifications_of(request_id, "progress")]
            self.assertEqual(
                progress,
                [
                    {"requestId": request_id, "progress": 1, "total": 2, "message": "halfway"},
                    {"requestId": request_id, "progress": 2},
                ],
            )
        self.assertEqual(host.bad_lines, [])

    def test_two_runs_are_in_flight_at_once(self) -> None:
        host = self.spawn()
        # Each run returns only once both are running: they cannot pass one after the other.
        first, second = host.run({"do": "meet", "n": 2}), host.run({"do": "meet", "n": 2})
        self.assertEqual(host.wait_response(first)["result"], {"result": {"met": True}})
        self.assertEqual(host.wait_response(second)["result"], {"result": {"met": True}})
        started = [host.wait_log(request_id, "started meet") for request_id in (first, second)]
        self.assertEqual(len(started), 2)

    def test_slow_runs_overlap_in_time(self) -> None:
        host = self.spawn()
        first = host.run({"do": "sleep", "seconds": 1.0})
        second = host.run({"do": "sleep", "seconds": 1.0})
        host.wait_response(first), host.wait_response(second)
        first_started = host.wait_log(first, "started")
        second_started = host.wait_log(second, "started")
        arrivals = {id(message): t for t, message in host.notifications}
        # The second started before the first finished.
        self.assertLess(arrivals[id(second_started)], host.response_time(first))
        self.assertLess(arrivals[id(first_started)], host.response_time(second))

    def test_not_retryable_answers_32001_with_retryable_false(self) -> None:
        host = self.spawn()
        error = self.assert_error(host.wait_response(host.run({"do": "not_retryable"})), -32001)
        self.assertEqual(error["message"], "the input can never work")
        self.assertEqual(error["data"], {"retryable": False})

    def test_an_exception_answers_32000_and_logs_its_traceback(self) -> None:
        host = self.spawn()
        error = self.assert_error(host.wait_response(host.run({"do": "fail"})), -32000)
        self.assertEqual(error["message"], "the scripted failure")
        host.wait_for(
            lambda: "ValueError: the scripted failure" in host.stderr_text(), "a traceback"
        )
        self.assertIn("Traceback", host.stderr_text())

    def test_cancel_answers_32002(self) -> None:
        host = self.spawn()
        request_id = host.run({"do": "wait_cancel"})
        host.wait_log(request_id, "started")
        host.notify("cancel", {"requestId": request_id, "reason": "the user asked"})
        error = self.assert_error(host.wait_response(request_id), -32002)
        self.assertEqual(error["message"], "cancelled: the user asked")
        # The plugin goes on serving.
        self.assertEqual(host.call("ping"), {"jsonrpc": "2.0", "id": request_id + 1, "result": {}})

    def test_cancel_in_the_same_read_as_the_run(self) -> None:
        host = self.spawn()
        run = {
            "jsonrpc": "2.0",
            "id": 77,
            "method": "run",
            "params": {
                "job": {"id": 1, "attempt": 1, "maxAttempts": 1},
                "trigger": {"kind": "manual"},
                "payload": {"do": "wait_cancel"},
            },
        }
        cancel = {"jsonrpc": "2.0", "method": "cancel", "params": {"requestId": 77}}
        host.send_raw((json.dumps(run) + "\n" + json.dumps(cancel) + "\n").encode())
        self.assertEqual(self.assert_error(host.wait_response(77), -32002)["message"], "cancelled")

    def test_print_in_a_handler_does_not_reach_the_protocol(self) -> None:
        host = self.spawn()
        response = host.wait_response(host.run({"do": "print"}))
        self.assertEqual(response["result"], {"result": {"printed": True}})
        host.wait_for(lambda: "written to fd 1" in host.stderr_text(), "the fd 1 write on stderr")
        self.assertIn("plain text from a handler", host.stderr_text())
        self.assertIn("forged by print", host.stderr_text())
        self.assertEqual(host.call("ping")["result"], {})
        self.assertEqual(host.bad_lines, [])
        self.assertNotIn(999, host.responses)

    def test_kv_and_emit_round_trip_through_the_host(self) -> None:
        host = self.spawn()
        for expected in (1, 2):
            response = host.wait_response(host.run({"do": "count"}, job_id=expected))
            self.assertEqual(response["result"], {"result": {"count": expected}})
        self.assertEqual(host.kv, {("acme", "count"): 2})
        self.assertEqual(
            host.emitted[-1],
            {
                "tenant": "acme",
                "type": "scripted.counted",
                "payload": {"count": 2},
                "idempotencyKey": "job-2",
            },
        )
        gets = [r for r in host.plugin_requests if r["method"] == "kv/get"]
        self.assertEqual(gets[0]["params"], {"tenant": "acme", "key": "count"})

    def test_a_host_error_fails_the_run(self) -> None:
        host = self.spawn()
        host.kv_error = {"code": -32010, "message": "the store is down"}
        error = self.assert_error(host.wait_response(host.run({"do": "count"})), -32000)
        self.assertEqual(error["message"], "kv/get failed: the store is down (code -32010)")

    def test_config_validate_and_test(self) -> None:
        host = self.spawn()
        bad = host.call("config/validate", {"tenant": "acme", "values": {"name": "bad"}})
        self.assertEqual(
            bad["result"],
            {"valid": False, "errors": [{"path": "/name", "message": "bad is not a good name"}]},
        )
        good = host.call("config/validate", {"values": {"name": "fine"}})
        self.assertEqual(good["result"], {"valid": True, "errors": []})
        tested = host.call("config/test", {"tenant": "acme", "values": {"name": "x"}})
        self.assertEqual(
            tested["result"], {"ok": True, "message": "hello x", "details": {"tenant": "acme"}}
        )

    def test_tools_call(self) -> None:
        host = self.spawn()
        answer = host.call("tools/call", {"name": "echo", "arguments": {"a": 1}})
        self.assertEqual(
            answer["result"], {"content": [{"type": "text", "text": "{'a': 1}"}], "isError": False}
        )
        self.assert_error(host.call("tools/call", {"name": "nope"}), -32602)

    def test_http(self) -> None:
        host = self.spawn()
        body = base64.b64encode(b"hi there").decode()
        answer = host.call(
            "http",
            {
                "method": "GET",
                "path": "/hello/bob",
                "query": "a=1&a=2",
                "headers": {"x": "y"},
                "body": body,
            },
        )["result"]
        self.assertEqual(answer["status"], 201)
        self.assertEqual(answer["headers"], {"content-type": "application/json"})
        self.assertEqual(
            json.loads(base64.b64decode(answer["body"])),
            {"path": "/hello/bob", "query": {"a": ["1", "2"]}, "body": "hi there"},
        )
        self.assert_error(host.call("http", {"method": "GET", "path": "/", "body": "%%%"}), -32602)

    def test_shutdown_waits_for_runs_in_flight_then_exits_0(self) -> None:
        host = self.spawn()
        run = host.run({"do": "sleep", "seconds": 0.3})
        host.wait_log(run, "started")
        shutdown = host.request("shutdown")
        self.assertEqual(host.wait_response(run)["result"], {"result": {"slept": 0.3}})
        self.assertEqual(host.wait_response(shutdown)["result"], {})
        self.assertLessEqual(host.response_time(run), host.response_time(shutdown))
        self.assertEqual(host.wait_exit(), 0)
        self.assertEqual(host.bad_lines, [])


class AsyncScriptedPluginTests(ScriptedPluginTests):
    """The same, with every handler a coroutine."""

    ARGUMENTS = ("--async",)

    def test_a_blocking_call_in_a_coroutine_is_refused_with_a_clear_error(self) -> None:
        host = self.spawn()
        error = self.assert_error(host.wait_response(host.run({"do": "sync_in_async"})), -32000)
        self.assertIn("in an async handler use await ctx.kv_get()", error["message"])


class LifecycleTests(unittest.TestCase):
    """What does not depend on the kind of handler."""

    def spawn(self) -> FakeHost:
        host = FakeHost(SCRIPTED_DIR)
        self.addCleanup(host.close)
        return host

    def test_protocol_version_mismatch_answers_32003(self) -> None:
        host = self.spawn()
        error = host.initialize(protocol_version=2)["error"]
        self.assertEqual(error["code"], -32003)
        self.assertEqual(
            error["message"], "this plugin speaks protocol 1; plugboard sent protocol 2"
        )
        self.assertEqual(error["data"], {"supported": [1]})

    def test_unknown_method_answers_32601(self) -> None:
        host = self.spawn()
        host.initialize()
        self.assertEqual(host.call("resources/list")["error"]["code"], -32601)

    def test_bad_params_answer_32602_naming_the_field(self) -> None:
        host = self.spawn()
        host.initialize()
        error = host.call("run", {"trigger": {"kind": "manual"}})["error"]
        self.assertEqual(error, {"code": -32602, "message": "run: params.job is missing"})
        error = host.call(
            "run",
            {"job": {"id": "7", "attempt": 1, "maxAttempts": 1}, "trigger": {"kind": "manual"}},
        )["error"]
        self.assertEqual(
            error, {"code": -32602, "message": 'run: params.job.id must be an integer, got "7"'}
        )
        self.assertEqual(host.call("initialize", {"host": {}})["error"]["code"], -32602)

    def test_run_before_initialize_is_refused(self) -> None:
        host = self.spawn()
        self.assertEqual(host.wait_response(host.run({"do": "echo"}))["error"]["code"], -32600)

    def test_malformed_lines_are_ignored(self) -> None:
        host = self.spawn()
        host.initialize()
        host.send_raw(b'this is not json\n[1, 2]\n\n{"jsonrpc": "2.0"}\n\xff\xfe\n')
        host.send_raw(
            b'{"jsonrpc": "2.0", "method": "cancel", "params": {"requestId": {"a": 1}}}\n'
            b'{"jsonrpc": "2.0", "method": "cancel", "params": [1]}\n'
            b'{"jsonrpc": "2.0", "method": "notifications/initialized", "params": {}}\n'
            b'{"jsonrpc": "2.0", "id": "p-99", "result": {}}\n'
            b'{"jsonrpc": "1.0", "id": 500, "method": "ping"}\n'
        )
        self.assertEqual(host.wait_response(500)["error"]["code"], -32600)
        self.assertEqual(host.call("ping")["result"], {})
        host.wait_stderr("ignored a malformed line")
        self.assertEqual(host.bad_lines, [])

    def test_a_message_split_across_writes_is_one_line(self) -> None:
        host = self.spawn()
        host.initialize()
        host.send_raw(b'{"jsonrpc": "2.0", "id": 900, ')
        host.send_raw(b'"method": "ping"}\n')
        self.assertEqual(host.wait_response(900)["result"], {})

    def test_an_overlong_line_is_discarded(self) -> None:
        host = self.spawn()
        host.initialize()
        host.send_raw(
            b'{"jsonrpc": "2.0", "id": 901, "method": "ping", "params": {"x": "'
            + b"a" * (16 * 1024 * 1024)
            + b'"}}\n'
        )
        self.assertEqual(host.call("ping")["result"], {})
        self.assertNotIn(901, host.responses)
        host.wait_stderr("longer than the")

    def test_idle_shutdown_exits_0(self) -> None:
        host = self.spawn()
        host.initialize()
        self.assertEqual(host.call("shutdown")["result"], {})
        self.assertEqual(host.wait_exit(), 0)

    def test_end_of_file_exits_0_even_with_a_run_in_flight(self) -> None:
        host = self.spawn()
        host.initialize()
        run = host.run({"do": "wait_cancel"})
        host.wait_log(run, "started")
        host.close_stdin()
        self.assertEqual(host.wait_exit(), 0)

    def test_32_plain_handlers_at_once_fit_in_the_default_memory_limit(self) -> None:
        # The host's default limits.memory_mb (1024) caps the address space; each thread's
        # malloc arena would reserve 64 MiB of it if the SDK did not cap the arenas.
        host = FakeHost(SCRIPTED_DIR, memory_mb=1024)
        self.addCleanup(host.close)
        host.initialize()
        request_ids = [host.run({"do": "meet", "n": 32}, job_id=n) for n in range(32)]
        for request_id in request_ids:
            self.assertEqual(
                host.wait_response(request_id).get("result"), {"result": {"met": True}}
            )

    def test_a_request_id_in_flight_twice_is_refused(self) -> None:
        host = self.spawn()
        host.initialize()
        run = {
            "jsonrpc": "2.0",
            "id": 60,
            "method": "run",
            "params": {
                "job": {"id": 1, "attempt": 1, "maxAttempts": 1},
                "trigger": {"kind": "manual"},
                "payload": {"do": "wait_cancel"},
            },
        }
        host.send(run)
        host.wait_log(60, "started")
        host.send(run)
        self.assertEqual(host.wait_response(60)["error"]["code"], -32600)


if __name__ == "__main__":
    unittest.main()
