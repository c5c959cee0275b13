#!/usr/bin/env python3
"""Runs the shell commands of plugboard's Markdown docs, in order, and checks what they print.

    python3 tests/docs/run_docs.py --binary target/debug/plugboard [--keep] [FILE.md ...]

(`scripts/test-docs` is the usual way in.) Without FILEs it runs README.md, then
docs/plugin-authoring.md. Python 3.11 standard library only.

WHAT RUNS
- Each file runs in a fresh temporary folder that plays the reader's home and work folder:
  HOME is that folder (mode 0755, so plugins running as their own users can reach their
  packages in it), and the first command runs in it. The commands of a file share one bash, as
  a reader's terminal would: variables, `export`s and `cd`s carry from block to block. The
  tutorial's two terminals are that one shell, plus the servers the runner keeps (below).
- ```sh blocks run, in order. A command that fails (non-zero status outside `||`, `&&`, `if`)
  fails the step, like `set -e` but the block goes on, so its output is still shown.
- The environment is the caller's, with every PLUGBOARD_* variable and XDG_* removed, HOME
  set as above, PLUGBOARD_LOG=info, PLUGBOARD_LISTEN=127.0.0.1:0 (a `serve` that names no
  --listen gets a free port from the OS), the directory of the binary under test first on
  PATH, and CARGO_HOME, RUSTUP_HOME and PIP_CACHE_DIR pointing where they pointed for the caller
  (so the toolchain and the download caches are the caller's, not the temporary home's);
  CARGO_TARGET_DIR is removed, so that cargo builds into the crate's target/ as a reader's does.
- Before a block runs, its text is rewritten, and only so:
  * `/path/to/plugboard` (the docs' stand-in for the checkout) becomes the repository's path;
  * `$REPO/target/release` becomes the directory of the binary under test: the docs tell
    readers to build and use a release binary, the test uses the debug one it is given
    (`scripts/test-docs` passes `${CARGO_TARGET_DIR:-target}/debug/plugboard`);
  * `cargo run --release -- ` (the README's way to run plugboard from the checkout) becomes
    `plugboard `, the binary under test;
  * an address `127.0.0.1:PORT` or `localhost:PORT` with a PORT other than 0 (the default
    7700, or the example port a doc shows in a server's log) becomes the address the running
    server logged.
- A ```sh block whose one command is `plugboard serve …` (after the rewriting above) is a
  server the reader leaves running in another terminal: the runner starts it in the background
  (its own process group; stdout and stderr together in one log, as a terminal shows them),
  waits until it logs `plugboard is running … address=ADDR` and takes ADDR as the running
  server's address. One server runs at a time: a doc that starts a second without stopping the
  first fails.
- Markers, HTML comments a reader does not see, each on a line of its own:
  <!-- docs-test: skip (REASON) -->      the next fenced block does not run; REASON is required.
  <!-- docs-test: not-output -->         the next ```text block is not the output of the block
                                         before it (it is only shown, not checked).
  <!-- docs-test: ctrl-c -->             the reader presses Ctrl-C in the server's terminal:
                                         SIGINT to the server's process group; it must exit,
                                         with status 0, within 30 s. A ```text block right
                                         after the marker (blank lines only between) is what
                                         the server prints from the Ctrl-C on.
  <!-- docs-test: server-log -->         the next ```text block holds lines the running server
                                         logged since the last check (their order kept; other
                                         lines may come before, between runs of `…`, and after).
  <!-- docs-test: replace FILE -->       the next fenced block is text of FILE (relative to the
                                         shell's folder), found exactly once; the fenced block
                                         after it is what replaces it (an edit the doc asks for).
  <!-- docs-test: methods FILE CLASS --> the next fenced block holds Python methods: each
                                         replaces CLASS's method of that name in FILE, or is
                                         added at the end of CLASS.

WHAT IS CHECKED
- A ```text block after a ```sh block (only prose between them, no other fenced block) is
  that command's output, stdout and stderr together. For a server, it is the start of the
  server's log (what follows it is not looked at: the server goes on logging); the runner waits
  up to 30 s for it. Other ```text blocks (a second one in a row, after a ```python block, …)
  are illustrations and are not checked.
- Expected and actual output are compared line by line, every line, after the NORMALISATION
  below. In the expected text, a line that is only `…` stands for any number of lines (none
  included), and `…` within a line for any text within that line. Nothing else is loose.
- A mismatch prints the file and line of the command and of the expected output, and a
  unified diff of the two (normalised; lines that `…` or a match made equal are shown as
  expected). That doc stops there (its later steps depend on the earlier ones), the other docs
  still run, and the runner exits 1. Its last line is `docs: N passed, N failed`.

NORMALISATION (applied alike to the expected and the actual text; the rules are few on purpose)
1. Trailing whitespace of each line, and blank lines at the start and the end, are dropped.
2. The temporary home reads as `/home/you`, the repository as `/path/to/plugboard`.
3. A timestamp such as `2026-11-23T21:13:31.624712Z` reads as `<time>`.
4. A duration, a number directly followed by ` s` or ` ms` or `ms` (`retrying in 0.6 s`), reads
   as `<duration>`.
5. `127.0.0.1:PORT` and `localhost:PORT` read as `<address>`.
6. `pid=N` and `pid N` read as `pid=<pid>` and `pid <pid>`; ` uid=N gid=N` is dropped (plugboard
   logs it only when it runs as root and plugins run as users of their own).
7. A worker or node name, HOST-PID-XXXX with four hexadecimal digits (`vm-12009-8288`), reads
   as `<worker>`.
8. A run of 64 hexadecimal digits (a sha256, a one-time sign-in code) reads as `<hex64>`.
9. In a Ctrl-C block, the `^C` the terminal echoes at the start of its first line is dropped.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ELLIPSIS = "\u2026"  # …
SERVER_READY = "plugboard is running"
BLOCK_TIMEOUT_S = 600  # a whole block: `cargo build` of a plugin crate, `pip install`
SERVER_START_TIMEOUT_S = 60
SERVER_OUTPUT_TIMEOUT_S = 30
SERVER_STOP_TIMEOUT_S = 30

MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
FENCE_CLOSE = re.compile(r"^```\s*$")
KNOWN_MARKERS = {"skip", "not-output", "ctrl-c", "server-log", "replace", "methods"}


# ---------------------------------------------------------------------------------------------
# Normalisation and matching


@dataclasses.dataclass(frozen=True)
class Paths:
    """What rule 2 replaces: the temporary home and the repository."""

    home: str
    repo: str


_TIME = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?: s| ?ms)\b")
_ADDRESS = re.compile(r"\b(?:127\.0\.0\.1|localhost):\d+\b")
_PID = re.compile(r"\bpid([= ])\d+\b")
_UID_GID = re.compile(r" uid=\d+ gid=\d+\b")
_WORKER = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9._-]*-\d+-[0-9a-f]{4}\b")
_HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(text: str, paths: Paths | None = None, ctrl_c: bool = False) -> list[str]:
    """The lines of `text` after the NORMALISATION rules in this file's docstring."""
    if ctrl_c and text.lstrip("\n").startswith("^C"):
        text = text.lstrip("\n")[2:]
    if paths is not None:
        # Longest first, in case one holds the other.
        for real, shown in sorted(
            [(paths.home, "/home/you"), (paths.repo, "/path/to/plugboard")],
            key=lambda pair: -len(pair[0]),
        ):
            if real:
                text = text.replace(real, shown)
    text = _TIME.sub("<time>", text)
    text = _DURATION.sub("<duration>", text)
    text = _ADDRESS.sub("<address>", text)
    text = _PID.sub(r"pid\1<pid>", text)
    text = _UID_GID.sub("", text)
    text = _WORKER.sub("<worker>", text)
    text = _HEX64.sub("<hex64>", text)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split(ELLIPSIS)) + r"\Z")


def matches(expected: list[str], actual: list[str], prefix: bool = False) -> bool:
    """Whether `actual` is `expected`, line by line: a line `…` is any number of lines, `…`
    within a line any text. With `prefix`, lines may follow the last expected one."""
    return match_end(expected, actual, prefix) is not None


def match_end(expected: list[str], actual: list[str], prefix: bool = False) -> int | None:
    """Like `matches`: the index in `actual` just past the last expected line, or None."""
    patterns = [None if line.strip() == ELLIPSIS else _line_pattern(line) for line in expected]
    memo: dict[tuple[int, int], int | None] = {}

    def go(i: int, j: int) -> int | None:
        key = (i, j)
        if key not in memo:
            result = None
            if i == len(patterns):
                result = j if prefix or j == len(actual) else None
            elif patterns[i] is None:
                for k in range(j, len(actual) + 1):
                    result = go(i + 1, k)
                    if result is not None:
                        break
            elif j < len(actual) and patterns[i].match(actual[j]):
                result = go(i + 1, j + 1)
            memo[key] = result
        return memo[key]

    return go(0, 0)


def find_in(expected: list[str], actual: list[str]) -> int | None:
    """Where `expected` (with `…` as in `matches`) occurs in `actual` at the earliest: the index
    just past its last line, or None. For server-log blocks."""
    patterns = [None if line.strip() == ELLIPSIS else _line_pattern(line) for line in expected]
    while patterns and patterns[0] is None:
        patterns.pop(0)
    while patterns and patterns[-1] is None:
        patterns.pop()
    if not patterns:
        return 0

    def go(i: int, j: int) -> int | None:
        if i == len(patterns):
            return j
        if patterns[i] is None:
            for k in range(j, len(actual) + 1):
                end = go(i + 1, k)
                if end is not None:
                    return end
            return None
        if j < len(actual) and patterns[i].match(actual[j]):
            return go(i + 1, j + 1)
        return None

    for start in range(len(actual)):
        end = go(0, start)
        if end is not None:
            return end
    return None


def _aligned(expected: list[str], actual: list[str]) -> list[str]:
    """`actual` for showing beside `expected`: each actual line that its expected line matches
    is shown as that expected line, and the lines an `…` line stands for as `…`, so that the
    diff shows what differs and not what `…` and the normalisation allow."""
    shown: list[str] = []
    j = 0
    for i, line in enumerate(expected):
        if line.strip() == ELLIPSIS:
            following = expected[i + 1] if i + 1 < len(expected) else None
            if following is None:
                k = len(actual)
            else:
                pattern = _line_pattern(following)
                k = next((k for k in range(j, len(actual)) if pattern.match(actual[k])), None)
                if k is None:
                    break
            shown.append(line)
            j = k
        elif j < len(actual):
            # A line that differs is shown as it is, and the next ones are compared in turn.
            shown.append(line if _line_pattern(line).match(actual[j]) else actual[j])
            j += 1
        else:
            break
    return shown + actual[j:]


def diff(expected: list[str], actual: list[str]) -> str:
    return "\n".join(
        difflib.unified_diff(
            expected, _aligned(expected, actual), "expected (normalised)", "actual (normalised)", lineterm=""
        )
    )


# ---------------------------------------------------------------------------------------------
# Markdown


@dataclasses.dataclass
class Marker:
    name: str
    args: list[str]
    reason: str
    line: int


@dataclasses.dataclass
class Block:
    lang: str
    text: str
    line: int  # of the opening fence, 1-based
    markers: list[Marker]
    follows_marker: Marker | None = None  # a ctrl-c marker with only blank lines between


@dataclasses.dataclass
class Action:
    """A marker that is a step of its own (ctrl-c)."""

    marker: Marker


def parse_marker(body: str, line: int, path: str) -> Marker:
    reason = ""
    match = re.search(r"\((.*)\)\s*$", body)
    if match:
        reason = match.group(1).strip()
        body = body[: match.start()].strip()
    words = body.split()
    if not words or words[0] not in KNOWN_MARKERS:
        raise SystemExit(f"{path}:{line}: unknown docs-test marker {body!r}")
    marker = Marker(words[0], words[1:], reason, line)
    if marker.name == "skip" and not reason:
        raise SystemExit(f"{path}:{line}: a docs-test skip needs its reason: skip (REASON)")
    if marker.name == "replace" and len(marker.args) != 1:
        raise SystemExit(f"{path}:{line}: docs-test replace takes one FILE")
    if marker.name == "methods" and len(marker.args) != 2:
        raise SystemExit(f"{path}:{line}: docs-test methods takes FILE CLASS")
    return marker


def parse(text: str, path: str = "<doc>") -> list[Block | Action]:
    """The fenced blocks and stand-alone markers of a Markdown text, in order."""
    items: list[Block | Action] = []
    pending: list[Marker] = []
    lines = text.splitlines()
    last_ctrl_c: Marker | None = None  # a ctrl-c marker followed by blank lines only, so far
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        fence = FENCE_OPEN.match(line)
        if marker:
            parsed = parse_marker(marker.group("body"), i + 1, path)
            if parsed.name == "ctrl-c":
                items.append(Action(parsed))
                last_ctrl_c = parsed
            else:
                pending.append(parsed)
                last_ctrl_c = None
            i += 1
            continue
        if fence:
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and not FENCE_CLOSE.match(lines[i]):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise SystemExit(f"{path}:{start + 1}: unclosed code fence")
            lang = fence.group("lang")
            follows = last_ctrl_c if lang == "text" else None
            if follows is not None:
                items.pop()  # the Ctrl-C and its output are one step
            items.append(Block(lang, "\n".join(body) + "\n", start + 1, pending, follows))
            pending = []
            last_ctrl_c = None
            i += 1
            continue
        if line.strip():
            last_ctrl_c = None
        i += 1
    if pending:
        raise SystemExit(f"{path}:{pending[0].line}: docs-test marker with no fenced block after it")
    return items


# ---------------------------------------------------------------------------------------------
# The reader's shell and servers


class StepFailed(Exception):
    pass


class Shell:
    """One bash, fed block after block, keeping its variables and folder between them."""

    def __init__(self, cwd: Path, env: dict[str, str], work: Path):
        self.work = work
        self.count = 0
        self.errors = work / "errors"
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-s"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        errors = shlex.quote(str(self.errors))
        # The ERR trap records each failed command; the block goes on, as in a terminal.
        self._send(
            "set -E\n"
            f"trap 'printf \"exit status %s: %s\\n\" \"$?\" \"$BASH_COMMAND\" >> {errors}' ERR\n"
        )

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def run(self, script: str, timeout: float = BLOCK_TIMEOUT_S) -> tuple[str, list[str]]:
        """Runs `script` in the shell: its output (stdout and stderr), and its failed commands."""
        self.count += 1
        path = self.work / f"block-{self.count}.sh"
        out = self.work / f"block-{self.count}.out"
        path.write_text(script)
        self.errors.write_text("")
        token = f"__docs_test_done_{self.count}__"
        self._send(
            f"source {shlex.quote(str(path))} > {shlex.quote(str(out))} 2>&1 < /dev/null\n"
            f"printf '%s\\n' {token}\n"
        )
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        said = b""  # what the shell itself printed: only the token, unless a block leaks
        while token.encode() not in said:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                output = out.read_text(errors="replace") if out.exists() else ""
                raise StepFailed(f"the block did not finish within {timeout} s; its output so far:\n{output}")
            ready, _, _ = select.select([descriptor], [], [], remaining)
            if ready:
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    raise StepFailed("the shell exited (an `exit` in the block?)")
                said += chunk
        output = out.read_text(errors="replace")
        failures = [line for line in self.errors.read_text().splitlines() if line]
        return output, failures

    def close(self) -> None:
        kill_group(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class Server:
    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], log: Path, block: Block):
        self.block = block
        self.log_path = log
        self.log = open(log, "wb")
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.address: str | None = None
        self.checked = 0  # lines of the log that server-log checks have looked past

    def text(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.text()
            for line in text.splitlines():
                if SERVER_READY in line:
                    match = re.search(r"address=(\S+)", line)
                    if not match:
                        raise StepFailed(f"the server's `{SERVER_READY}` line has no address=:\n{line}")
                    self.address = match.group(1)
                    return
            if self.process.poll() is not None:
                raise StepFailed(f"the server exited with status {self.process.returncode}:\n{text}")
            time.sleep(0.05)
        raise StepFailed(f"the server did not log `{SERVER_READY}` within {SERVER_START_TIMEOUT_S} s:\n{self.text()}")

    def interrupt(self) -> str:
        """Ctrl-C: SIGINT to the process group; what it printed from then on."""
        before = len(self.log_path.read_bytes())
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            status = self.process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"the server did not exit within {SERVER_STOP_TIMEOUT_S} s of Ctrl-C")
        self.log.close()
        after = self.log_path.read_bytes()[before:].decode(errors="replace")
        if status != 0:
            raise StepFailed(f"the server exited with status {status} after Ctrl-C; it printed:\n{after}")
        return after

    def kill(self) -> None:
        kill_group(self.process)
        self.log.close()


# ---------------------------------------------------------------------------------------------
# Running a document

_LOCAL_ADDRESS = re.compile(r"\b(?:127\.0\.0\.1|localhost):(?!0\b)\d+\b")


class Runner:
    def __init__(self, doc: Path, repo: Path, binary: Path, keep: bool, out=sys.stdout):
        self.doc = doc
        self.repo = repo.resolve()
        self.binary = binary.resolve()
        self.keep = keep
        self.out = out
        try:
            self.shown = str(doc.resolve().relative_to(self.repo))
        except ValueError:
            self.shown = str(doc)
        self.root = Path(tempfile.mkdtemp(prefix="plugboard-docs-"))
        os.chmod(self.root, 0o755)
        self.home = self.root / "home"
        self.home.mkdir(mode=0o755)
        os.chmod(self.home, 0o755)
        self.work = self.root / "runner"
        self.work.mkdir(mode=0o700)
        self.paths = Paths(str(self.home), str(self.repo))
        self.env = self._environment()
        self.shell = Shell(self.home, self.env, self.work)
        self.server: Server | None = None
        self.servers: list[Server] = []
        self.steps = 0

    def _environment(self) -> dict[str, str]:
        real_home = Path(os.environ.get("HOME", str(Path.home())))
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PLUGBOARD_", "XDG_"))
            # A reader's cargo builds into the crate's own target/, as the docs say.
            and key not in ("PWD", "OLDPWD", "CDPATH", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR")
        }
        env.setdefault("CARGO_HOME", str(real_home / ".cargo"))
        env.setdefault("RUSTUP_HOME", str(real_home / ".rustup"))
        env.setdefault("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
        env["HOME"] = str(self.home)
        env["PATH"] = f"{self.binary.parent}{os.pathsep}{env.get('PATH', '/usr/local/bin:/usr/bin:/bin')}"
        env["PLUGBOARD_LOG"] = "info"
        env["PLUGBOARD_LISTEN"] = "127.0.0.1:0"
        env.setdefault("LANG", "C.UTF-8")
        return env

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def where(self, block: Block) -> str:
        return f"{self.shown}:{block.line}"

    def rewrite(self, text: str) -> str:
        text = text.replace("/path/to/plugboard", str(self.repo))
        text = text.replace("$REPO/target/release", str(self.binary.parent))
        text = text.replace("cargo run --release -- ", "plugboard ")
        if self.server is not None and self.server.address:
            text = _LOCAL_ADDRESS.sub(self.server.address, text)
        return text

    def fail(self, message: str) -> None:
        raise StepFailed(message)

    # -- the steps --

    def run(self) -> int:
        self.say(f"=== {self.shown} (in {self.home})")
        started = time.monotonic()
        try:
            self._run_items(parse(self.doc.read_text(), self.shown))
        except StepFailed as failure:
            self.say(f"FAILED {failure}")
            return 1
        except SystemExit as error:  # a malformed marker or fence
            self.say(f"FAILED {error}")
            return 1
        finally:
            self.cleanup()
        self.say(f"=== {self.shown}: {self.steps} steps passed in {time.monotonic() - started:.1f} s")
        return 0

    def _run_items(self, items: list[Block | Action]) -> None:
        # The output of the ```sh block just before, for a ```text block to check: (the block,
        # its output, whether it is a server). Any other fenced block or step clears it.
        last: tuple[Block, str, bool] | None = None
        pending_replace: tuple[Block, Path] | None = None
        for item in items:
            if isinstance(item, Action):
                last = None
                self.ctrl_c(item.marker, None)
                continue
            block = item
            names = {marker.name: marker for marker in block.markers}
            output, last = last, None
            if pending_replace is not None:
                old_block, file = pending_replace
                pending_replace = None
                self.replace(old_block, block, file)
            elif "skip" in names:
                self.say(f"--- {self.where(block)} skipped: {names['skip'].reason}")
            elif block.lang == "text" and block.follows_marker is not None:
                self.ctrl_c(block.follows_marker, block)
            elif "replace" in names:
                pending_replace = (block, Path(names["replace"].args[0]))
            elif "methods" in names:
                self.methods(block, Path(names["methods"].args[0]), names["methods"].args[1])
            elif block.lang == "sh":
                last = self.run_sh(block)
            elif block.lang == "text" and "server-log" in names:
                self.server_log(block)
            elif block.lang == "text" and "not-output" not in names and output is not None:
                self.check(output, block)
        if pending_replace is not None:
            self.fail(f"{self.where(pending_replace[0])}: `replace` with no block after it")

    def run_sh(self, block: Block) -> tuple[Block, str, bool]:
        script = self.rewrite(block.text)
        commands = [line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        first = commands[0] if commands else ""
        self.steps += 1
        if len(commands) == 1 and re.match(r"^plugboard\s+serve\b", first.strip()):
            self.say(f"--- {self.where(block)} $ {first.strip()}   [in the background]")
            return (block, self.start_server(block, first.strip()), True)
        more = f"   [+{len(commands) - 1} more lines]" if len(commands) > 1 else ""
        self.say(f"--- {self.where(block)} $ {first.strip()}{more}")
        started = time.monotonic()
        output, failures = self.shell.run(script)
        if time.monotonic() - started >= 2:
            self.say(f"    ({time.monotonic() - started:.1f} s)")
        if failures:
            self.fail(
                f"{self.where(block)}: a command failed:\n  "
                + "\n  ".join(failures)
                + f"\nthe block's output:\n{output}"
            )
        return (block, output, False)

    def start_server(self, block: Block, command: str) -> str:
        if self.server is not None:
            self.fail(
                f"{self.where(block)}: the doc starts a server while the one of "
                f"{self.where(self.server.block)} still runs: stop it first (ctrl-c)"
            )
        # The shell expands the words (variables, quotes) as it would run them; the runner runs
        # the result itself so that it can wait for it, interrupt it and reap it.
        argv_file, env_file, cwd_file = (self.work / name for name in ("argv", "env", "cwd"))
        _, failures = self.shell.run(
            f"printf '%s\\0' {command.removeprefix('exec ')} > {shlex.quote(str(argv_file))}\n"
            f"env -0 > {shlex.quote(str(env_file))}\n"
            f"pwd > {shlex.quote(str(cwd_file))}\n"
        )
        if failures:
            self.fail(f"{self.where(block)}: cannot expand the command: {failures}")
        argv = argv_file.read_bytes().decode().split("\0")[:-1]
        env = dict(
            entry.split("=", 1) for entry in env_file.read_bytes().decode().split("\0") if "=" in entry
        )
        cwd = cwd_file.read_text().strip()
        server = Server(argv, cwd, env, self.work / f"server-{len(self.servers) + 1}.log", block)
        self.servers.append(server)
        self.server = server
        server.wait_ready()
        self.say(f"    the server is running at {server.address}")
        return ""

    def check(self, last: tuple[Block, str, bool], expected_block: Block) -> None:
        command, output, is_server = last
        expected = normalise(expected_block.text, self.paths)
        if is_server:
            assert self.server is not None
            deadline = time.monotonic() + SERVER_OUTPUT_TIMEOUT_S
            while True:
                actual = normalise(self.server.text(), self.paths)
                end = match_end(expected, actual, prefix=True)
                if end is not None:
                    self.server.checked = end
                    return
                if time.monotonic() > deadline or self.server.process.poll() is not None:
                    break
                time.sleep(0.1)
            self.mismatch(command, expected_block, expected, actual, "the start of the server's log")
        actual = normalise(output, self.paths)
        if not matches(expected, actual):
            self.mismatch(command, expected_block, expected, actual, "the output")

    def mismatch(self, command: Block, expected_block: Block, expected, actual, what: str) -> None:
        self.fail(
            f"{self.where(command)}: {what} differs from {self.where(expected_block)}\n"
            f"{diff(expected, actual)}"
        )

    def server_log(self, block: Block) -> None:
        if self.server is None:
            self.fail(f"{self.where(block)}: server-log, but no server runs")
        expected = normalise(block.text, self.paths)
        deadline = time.monotonic() + SERVER_OUTPUT_TIMEOUT_S
        while True:
            actual = normalise(self.server.text(), self.paths)
            end = find_in(expected, actual[self.server.checked :])
            if end is not None:
                self.server.checked += end
                self.say(f"--- {self.where(block)} the server logged these lines")
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.fail(
            f"{self.where(block)}: the server's log (from line {self.server.checked + 1}) lacks these lines\n"
            + diff(expected, actual[self.server.checked :])
        )

    def ctrl_c(self, marker: Marker, expected_block: Block | None) -> None:
        self.steps += 1
        where = f"{self.shown}:{marker.line}"
        if self.server is None:
            self.fail(f"{where}: Ctrl-C, but no server runs")
        self.say(f"--- {where} Ctrl-C in the server's terminal")
        server = self.server
        self.server = None
        printed = server.interrupt()
        if expected_block is not None:
            expected = normalise(expected_block.text, self.paths, ctrl_c=True)
            actual = normalise(printed, self.paths)
            if not matches(expected, actual):
                self.fail(
                    f"{where}: what the server printed after Ctrl-C differs from "
                    f"{self.where(expected_block)}\n{diff(expected, actual)}"
                )

    def _shell_folder(self) -> Path:
        file = self.work / "cwd"
        self.shell.run(f"pwd > {shlex.quote(str(file))}\n")
        return Path(file.read_text().strip())

    def replace(self, old: Block, new: Block, file: Path) -> None:
        self.steps += 1
        path = self._shell_folder() / file
        self.say(f"--- {self.where(old)} edit {file}: replace with {self.where(new)}")
        text = path.read_text()
        count = text.count(old.text)
        if count != 1:
            self.fail(f"{self.where(old)}: this text is in {path} {count} times, not once")
        path.write_text(text.replace(old.text, new.text))

    def methods(self, block: Block, file: Path, class_name: str) -> None:
        self.steps += 1
        path = self._shell_folder() / file
        self.say(f"--- {self.where(block)} edit {file}: methods of {class_name}")
        try:
            path.write_text(put_methods(path.read_text(), block.text, class_name))
        except (SyntaxError, ValueError) as error:
            self.fail(f"{self.where(block)}: cannot apply the methods to {path}: {error}")

    def cleanup(self) -> None:
        for server in self.servers:
            server.kill()
        self.shell.close()
        if self.keep:
            self.say(f"    kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)
            if self.root.exists():
                self.say(f"warning: could not remove all of {self.root}")


def put_methods(source: str, methods: str, class_name: str) -> str:
    """`source` with each method of `methods` (Python, indented as in a class body) in place of
    `class_name`'s method of the same name, or added at the end of the class."""
    snippet = textwrap.dedent(methods)
    snippet_lines = snippet.splitlines()
    new_functions = [node for node in ast.parse(snippet).body if isinstance(node, ast.FunctionDef)]
    if not new_functions:
        raise ValueError("the block defines no method")
    for function in new_functions:
        lines = source.splitlines()
        tree = ast.parse(source)
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
        if len(classes) != 1:
            raise ValueError(f"no class {class_name}")
        cls = classes[0]
        start = function.lineno - 1
        if function.decorator_list:
            start = function.decorator_list[0].lineno - 1
        text = ["    " + line if line else "" for line in snippet_lines[start : function.end_lineno]]
        existing = [node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == function.name]
        if existing:
            old = existing[0]
            old_start = (old.decorator_list[0].lineno if old.decorator_list else old.lineno) - 1
            lines[old_start : old.end_lineno] = text
        else:
            end = cls.end_lineno
            lines[end:end] = [""] + text
        source = "\n".join(lines) + "\n"
    return source


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True, type=Path, help="the plugboard binary to test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--repo", type=Path, default=repo, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if not args.binary.is_file() or not os.access(args.binary, os.X_OK):
        print(f"error: no plugboard binary at {args.binary}", file=sys.stderr)
        return 2
    files = args.files or [args.repo / "README.md", args.repo / "docs" / "plugin-authoring.md"]
    started = time.monotonic()
    failed = [file for file in files if Runner(file, args.repo, args.binary, args.keep).run() != 0]
    print(f"=== {time.monotonic() - started:.1f} s", flush=True)
    for file in failed:
        print(f"failed: {file}", flush=True)
    # The closing line, in the form CI reads: one doc is one test.
    print(f"docs: {len(files) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
