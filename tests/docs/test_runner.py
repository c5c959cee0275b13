"""A quick self-test of the docs runner (run_docs.py): its normalisation, its matching, its
markers, and, end to end on a small Markdown file with a stand-in `plugboard`, that a doc that
tells the truth passes and one wrong word fails it.

    python3 -m unittest discover -s tests/docs -p 'test_*.py'
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_docs  # noqa: E402
from run_docs import Paths, find_in, matches, normalise, parse, put_methods  # noqa: E402

PATHS = Paths(home="/tmp/plugboard-docs-x1/home", repo="/work/checkout")


class Normalise(unittest.TestCase):
    def test_each_rule(self):
        actual = (
            "2026-12-07T17:05:58.485687Z  INFO plugboard::cli::serve: plugboard is running; "
            "press Ctrl-C to stop address=127.0.0.1:43481 worker=vm-3461-8636   \n"
            "2026-12-07T17:05:58.694094Z  INFO plugboard::plugins::supervisor: plugin ready "
            "plugin=word-count#0 pid=3468 uid=1879101791 gid=1879101791\n"
            "retrying in 0.6 s, took 12ms, within 10000 ms\n"
            "package=/tmp/plugboard-docs-x1/home/plugboard-tutorial sdk=/work/checkout/sdk/python\n"
            "curl localhost:7700 code=" + "ab12" * 16 + "\n"
            "the plugin's process (pid 48213) ended; noop started (attempt 1, worker host.example-12-0c1e)\n"
        )
        self.assertEqual(
            normalise(actual, PATHS),
            [
                "<time>  INFO plugboard::cli::serve: plugboard is running; press Ctrl-C to stop "
                "address=<address> worker=<worker>",
                "<time>  INFO plugboard::plugins::supervisor: plugin ready plugin=word-count#0 pid=<pid>",
                "retrying in <duration>, took <duration>, within <duration>",
                "package=/home/you/plugboard-tutorial sdk=/path/to/plugboard/sdk/python",
                "curl <address> code=<hex64>",
                "the plugin's process (pid <pid>) ended; noop started (attempt 1, worker <worker>)",
            ],
        )

    def test_what_it_leaves_alone(self):
        # Words, counts, ids and statuses are never normalised.
        text = "worker pool stopped\n      id  status\n       3  succeeded   plugin.run    default           1/3\n"
        self.assertEqual(
            normalise(text), ["worker pool stopped", "      id  status", "       3  succeeded   plugin.run    default           1/3"]
        )

    def test_blank_lines_and_ctrl_c(self):
        self.assertEqual(normalise("\n\n^C2026-11-23T21:13:52.914524Z  INFO stop\n\n", ctrl_c=True), ["<time>  INFO stop"])
        self.assertEqual(normalise("^Cx", ctrl_c=False), ["^Cx"])


class Match(unittest.TestCase):
    def test_every_line(self):
        self.assertTrue(matches(["a", "b"], ["a", "b"]))
        self.assertFalse(matches(["a", "b"], ["a", "c"]), "a wrong word")
        self.assertFalse(matches(["a", "b"], ["a", "b", "c"]), "an extra line")
        self.assertFalse(matches(["a", "b"], ["a"]), "a missing line")
        self.assertFalse(matches(["a"], ["a "]), "matching is exact after normalising")

    def test_ellipsis_lines(self):
        self.assertTrue(matches(["a", "…", "d"], ["a", "b", "c", "d"]))
        self.assertTrue(matches(["a", "…", "d"], ["a", "d"]))
        self.assertFalse(matches(["a", "…", "d"], ["a", "b", "c", "e"]))
        self.assertTrue(matches(["…"], []))

    def test_ellipsis_in_a_line(self):
        self.assertTrue(matches(['{"checks":{…},"ok":true}'], ['{"checks":{"x":1},"ok":true}']))
        self.assertFalse(matches(['{"checks":{…},"ok":true}'], ['{"checks":{"x":1},"ok":false}']))
        self.assertFalse(matches(["a…"], ["a", "b"]), "`…` within a line stays within it")
        self.assertTrue(matches(["a.b (c)"], ["a.b (c)"]), "the rest is literal")
        self.assertFalse(matches(["a.b"], ["axb"]))

    def test_prefix_for_a_running_server(self):
        self.assertTrue(matches(["a", "b"], ["a", "b", "c"], prefix=True))
        self.assertFalse(matches(["a", "b"], ["x", "a", "b"], prefix=True))
        self.assertFalse(matches(["a", "b"], ["a"], prefix=True))

    def test_find_in_a_log(self):
        self.assertEqual(find_in(["b", "c"], ["a", "b", "c", "d"]), 3)
        self.assertIsNone(find_in(["b", "d"], ["a", "b", "c", "d"]))
        self.assertEqual(find_in(["b", "…", "d"], ["a", "b", "c", "d"]), 4)

    def test_the_diff_shows_only_what_differs(self):
        shown = run_docs.diff(["x", "…", '{"a":…}', "z"], ["x", "1", "2", '{"a":3}', "y"])
        self.assertIn("-z\n+y", shown)
        self.assertNotIn('+{"a":3}', shown)


class Markdown(unittest.TestCase):
    def test_blocks_and_markers(self):
        doc = textwrap.dedent(
            """\
            Run:

            <!-- docs-test: skip (it takes an hour) -->
            ```sh
            long
            ```

            Then stop it with Ctrl-C:

            <!-- docs-test: ctrl-c -->

            ```text
            ^Cbye
            ```

            <!-- docs-test: ctrl-c -->

            Prose.

            ```text
            not the ctrl-c's
            ```
            """
        )
        items = parse(doc)
        kinds = [type(item).__name__ for item in items]
        self.assertEqual(kinds, ["Block", "Block", "Action", "Block"])
        self.assertEqual(items[0].markers[0].name, "skip")
        self.assertEqual(items[0].markers[0].reason, "it takes an hour")
        self.assertEqual(items[0].line, 4)
        self.assertEqual(items[1].follows_marker.name, "ctrl-c")
        self.assertIsNone(items[3].follows_marker)

    def test_a_skip_needs_a_reason(self):
        with self.assertRaises(SystemExit):
            parse("<!-- docs-test: skip -->\n```sh\nx\n```\n")
        with self.assertRaises(SystemExit):
            parse("<!-- docs-test: skipp (typo) -->\n```sh\nx\n```\n")


class Methods(unittest.TestCase):
    def test_replace_and_add(self):
        source = textwrap.dedent(
            """\
            class A:
                def run(self):
                    return 1


            def other():
                pass
            """
        )
        snippet = "    def run(self):\n        return 2\n\n    def extra(self):\n        return 3\n"
        result = put_methods(source, snippet, "A")
        namespace: dict = {}
        exec(result, namespace)
        self.assertEqual(namespace["A"]().run(), 2)
        self.assertEqual(namespace["A"]().extra(), 3)
        self.assertIn("def other", result)


FAKE_PLUGBOARD = """\
#!/usr/bin/env python3
# A stand-in for plugboard: `serve` serves the folder over HTTP until SIGINT, logging as
# plugboard does; anything else prints its arguments.
import http.server, signal, sys, threading
if sys.argv[1:2] != ["serve"]:
    print(" ".join(sys.argv[1:]))
    sys.exit(0)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
port = server.server_address[1]
print(f"2026-01-01T00:00:00.000001Z  INFO plugboard::cli::serve: plugboard is running; press Ctrl-C to stop address=127.0.0.1:{port} worker=box-{port}-00ff", file=sys.stderr, flush=True)
def stop(*_):
    print("2026-01-01T00:00:01.000001Z  INFO plugboard::cli::serve: stopped", file=sys.stderr, flush=True)
    threading.Thread(target=server.shutdown).start()
signal.signal(signal.SIGINT, stop)
server.serve_forever()
"""

DOC = """\
# A small doc

```sh
REPO=/path/to/plugboard
echo "$REPO" | sed 's/$/!/'
cd ~ && mkdir -p site && cd site && echo hello > page.txt
```

```text
/path/to/plugboard!
```

```sh
plugboard serve --listen 127.0.0.1:0
```

```text
2026-11-23T21:13:31.624968Z  INFO plugboard::cli::serve: plugboard is running; press Ctrl-C to stop address=127.0.0.1:44527 worker=vm-12009-8288
```

```sh
curl -sS http://localhost:7700/page.txt
cargo run --release -- job list --data-dir "$HOME/x"
```

```text
hello
job list --data-dir /home/you/x
```

<!-- docs-test: ctrl-c -->
```text
^C2026-11-23T21:13:52.937909Z  INFO plugboard::cli::serve: stopped
```
"""


class EndToEnd(unittest.TestCase):
    def setUp(self):
        # A server's log is waited for up to 30 s; a wrong one here need not take so long.
        self.timeout = run_docs.SERVER_OUTPUT_TIMEOUT_S
        run_docs.SERVER_OUTPUT_TIMEOUT_S = 1

    def tearDown(self):
        run_docs.SERVER_OUTPUT_TIMEOUT_S = self.timeout

    def run_doc(self, text: str) -> tuple[int, str]:
        with tempfile.TemporaryDirectory() as folder:
            binary = Path(folder) / "bin" / "plugboard"
            binary.parent.mkdir()
            binary.write_text(FAKE_PLUGBOARD)
            binary.chmod(0o755)
            doc = Path(folder) / "doc.md"
            doc.write_text(text)
            out = io.StringIO()
            runner = run_docs.Runner(doc, Path(__file__).resolve().parents[2], binary, keep=False, out=out)
            status = runner.run()
            self.assertFalse(runner.root.exists(), "the runner removes its folder")
            return status, out.getvalue()

    def test_a_true_doc_passes(self):
        status, out = self.run_doc(DOC)
        self.assertEqual(status, 0, out)
        self.assertIn("Ctrl-C in the server's terminal", out)

    def test_a_wrong_word_fails(self):
        cases = [
            ("hello\n", "hallo\n", "hallo"),  # a command's output
            ("is running;", "is runing;", "runing"),  # a server's log
            (": stopped", ": stoped", "stoped"),  # what Ctrl-C prints
            ("plugboard!", "plugboard?", "plugboard?"),  # a rewritten path
        ]
        for right, wrong, word in cases:
            with self.subTest(wrong=word):
                self.assertEqual(DOC.count(right), 1)
                status, out = self.run_doc(DOC.replace(right, wrong))
                self.assertEqual(status, 1, out)
                self.assertRegex(out, r"FAILED \S*doc\.md:\d+")
                self.assertTrue(
                    any(line.startswith("-") and word in line for line in out.splitlines()),
                    f"the diff shows the expected line with {word!r}:\n{out}",
                )

    def test_not_output_and_edits(self):
        doc = textwrap.dedent(
            """\
            ```sh
            printf 'x = 1\\ny = 2\\n' > f.py
            echo made
            ```

            <!-- docs-test: not-output -->
            ```text
            something else
            ```

            <!-- docs-test: replace f.py -->
            ```python
            y = 2
            ```

            ```python
            y = 3
            ```

            ```sh
            cat f.py
            ```

            ```text
            x = 1
            y = 3
            ```
            """
        )
        status, out = self.run_doc(doc)
        self.assertEqual(status, 0, out)
        status, out = self.run_doc(doc.replace("<!-- docs-test: not-output -->\n", ""))
        self.assertEqual(status, 1, out)
        self.assertIn("-something else", out)

    def test_a_failing_command_fails(self):
        status, out = self.run_doc("```sh\nfalse\necho after\n```\n")
        self.assertEqual(status, 1)
        self.assertIn("a command failed", out)
        self.assertIn("exit status 1: false", out)

    def test_a_second_server_needs_the_first_stopped(self):
        doc = "```sh\nplugboard serve\n```\n\n```sh\nplugboard serve\n```\n"
        status, out = self.run_doc(doc)
        self.assertEqual(status, 1)
        self.assertIn("stop it first", out)


if __name__ == "__main__":
    unittest.main()
