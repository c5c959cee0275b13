"""Measures ``run`` requests per second through a Python plugin, without the host.

Not a test (tests never assert durations): run it to see the numbers, for example
``python3 sdk/python/tests/measure_runs.py --runs 20000 --in-flight 4``. It spawns a plugin
package (by default ``examples/plugins/counter-python``), answers ``initialize``, then keeps
``--in-flight`` ``run`` requests outstanding, shaped like the host's ``plugin.run`` jobs (tenant
``bench``), and answers the plugin's ``kv/get`` and ``kv/set`` from memory as the host would
(``log`` and ``progress`` are read and dropped). It prints runs per second and the plugin's CPU
time per run (user + system, from ``/proc``), the steadier figure on a shared machine.

This driver is one thread on raw pipes so that it costs less than the plugin it measures. With
``--profile FILE`` the plugin runs under cProfile (``python3 -m cProfile -o FILE main.py``).
"""

import argparse
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugins" / "counter-python"


def run_request(request_id: int) -> bytes:
    job = {"id": request_id, "attempt": 1, "maxAttempts": 3, "deadline": "2026-12-07T12:00:00Z"}
    params = {
        "job": job,
        "trigger": {"kind": "manual"},
        "tenant": "bench",
        "payload": None,
    }
    message = {"jsonrpc": "2.0", "id": request_id, "method": "run", "params": params}
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Driver:
    """The plugin process and the host's side of its pipes."""

    def __init__(self, package: Path, profile: Optional[str]) -> None:
        command = [sys.executable, "main.py"]
        if profile:
            command = [sys.executable, "-m", "cProfile", "-o", profile, "main.py"]
        self.process = subprocess.Popen(
            command, cwd=package, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={}
        )
        assert self.process.stdin and self.process.stdout
        self.to_plugin = self.process.stdin.fileno()
        self.from_plugin = self.process.stdout.fileno()
        os.set_blocking(self.from_plugin, False)
        self.buffer = b""
        self.kv: Dict[Any, Any] = {}
        self.answered = 0
        self.failures: List[Any] = []

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.to_plugin, view) :]

    def pump(self) -> None:
        """Reads what the plugin wrote, answering its requests; counts answers to ``run``."""
        try:
            chunk = os.read(self.from_plugin, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            raise SystemExit("the plugin closed its stdout")
        lines = (self.buffer + chunk).split(b"\n")
        self.buffer = lines.pop()
        out = []
        for line in lines:
            message = json.loads(line)
            method = message.get("method")
            if method is None:
                self.answered += 1
                if "error" in message:
                    self.failures.append(message)
            elif "id" in message:
                params = message["params"]
                key = (params.get("tenant"), params["key"])
                if method == "kv/get":
                    result: Any = {"value": self.kv.get(key)}
                else:  # kv/set
                    self.kv[key] = params["value"]
                    result = {}
                answer = {"jsonrpc": "2.0", "id": message["id"], "result": result}
                out.append(json.dumps(answer, separators=(",", ":")) + "\n")
        if out:
            self.send("".join(out).encode())

    def initialize(self) -> None:
        self.send(
            b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":'
            b'{"protocolVersion":1,"dataDir":"/tmp"}}\n'
        )
        selector = selectors.DefaultSelector()
        selector.register(self.from_plugin, selectors.EVENT_READ)
        while self.answered < 1:
            selector.select()
            self.pump()
        self.answered = 0

    def runs(self, count: int, in_flight: int) -> float:
        """Sends ``count`` runs, ``in_flight`` at a time; returns the seconds it took."""
        selector = selectors.DefaultSelector()
        selector.register(self.from_plugin, selectors.EVENT_READ)
        requests = [run_request(i) for i in range(1, count + 1)]
        sent = 0
        started = time.perf_counter()
        while self.answered < count:
            if sent - self.answered < in_flight and sent < count:
                batch = min(in_flight - (sent - self.answered), count - sent)
                self.send(b"".join(requests[sent : sent + batch]))
                sent += batch
            selector.select()
            self.pump()
        return time.perf_counter() - started

    def stop(self) -> None:
        self.send(b'{"jsonrpc":"2.0","id":"end","method":"shutdown"}\n')
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=EXAMPLE)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args()
    driver = Driver(args.package, args.profile)
    driver.initialize()
    driver.runs(min(2000, args.runs), args.in_flight)  # warm up
    for _ in range(args.reps):
        driver.answered = 0
        cpu_before = cpu_seconds(driver.process.pid)
        seconds = driver.runs(args.runs, args.in_flight)
        cpu = cpu_seconds(driver.process.pid) - cpu_before
        print(
            f"{args.runs / seconds:8.0f} runs/s   plugin CPU {cpu / args.runs * 1e6:6.1f} µs/run"
            f"   ({args.in_flight} in flight)"
        )
    driver.stop()
    if driver.failures:
        raise SystemExit(f"{len(driver.failures)} runs failed, the first: {driver.failures[0]}")


if __name__ == "__main__":
    main()
