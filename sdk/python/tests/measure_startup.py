"""Measures spawn-to-ready of the example plugins: from ``Popen`` to the ``initialize`` answer.

Not a test (tests never assert durations): run it to see the numbers, for example
``python3 sdk/python/tests/measure_startup.py 10``. It prints the median and range per plugin.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_host import FakeHost, example_dir  # noqa: E402


def spawn_to_ready_ms(name: str) -> float:
    """One start of the example ``name``, in milliseconds."""
    with FakeHost(example_dir(name)) as host:
        response = host.initialize()
        if "result" not in response:
            raise SystemExit(f"{name} refused the handshake: {response}")
        ready_ms = (host.response_time(response["id"]) - host.spawned_at) * 1000
        host.call("shutdown")
        host.wait_exit()
        return ready_ms


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for name in ("uptime-python", "counter-python"):
        spawn_to_ready_ms(name)  # warm the bytecode cache and the page cache
        times = [spawn_to_ready_ms(name) for _ in range(runs)]
        print(
            f"{name}: median {statistics.median(times):.1f} ms over {runs} starts "
            f"(min {min(times):.1f}, max {max(times):.1f})"
        )


if __name__ == "__main__":
    main()
