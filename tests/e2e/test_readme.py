"""README.md's shell examples, run as written against a live server, so that they stay true.

Every fenced block in the README names its language. The ```sh blocks are run in README order
in one bash session (``set -euo pipefail``, so variables carry from block to block and the first
failing command fails the test with its block and output), in a fresh directory, next to a
fresh ``thingport serve`` whose data directory is the default ``./thingport-data`` there. What
the test changes, and nothing else:

- ``localhost:8080`` becomes the test server's port (the session has ``HTTP_BIND_PORT`` set to it
  and ``HTTP_BIND_ADDRESS=127.0.0.1``, the equivalent of the defaults for a server it starts);
- the passwords of the README's first-start sample become the ones the server printed (the
  sample's layout is checked against the server's output);
- ``curl`` fails on an HTTP error status (``--fail-with-body``), as a reader would notice one,
  and draws no progress meter;
- a command that runs ``thingport serve`` (the reader's first terminal) runs in the background:
  the test's own server is stopped before that block, the test waits until the new one answers,
  stops it when the block is done and starts its own again.

A block that cannot run here has ``<!-- not run by tests/e2e/test_readme.py: why -->`` on the
line before it; blocks that show output or other files use ```text, ```nginx, ```yaml ...
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP_MARKER = re.compile(r"^<!-- not run by tests/e2e/test_readme\.py: (.+\S) -->$")
SHELL = "sh"
#: A first-start login line, as the server prints it and the README shows it.
LOGIN_LINE = re.compile(r"^  (SYS_ADMIN|TENANT_ADMIN) +(\S+)  password: (\S+)$", re.M)
#: The longest one block may take (long polls in it wait up to 20 s, the SDK's update ~6 s).
BLOCK_TIMEOUT_S = 240.0
DONE = "@@readme-block-done@@"

PRELUDE = r"""
set -Eeuo pipefail
trap 'echo "@@readme-failed@@ exit status $? at line $LINENO: $BASH_COMMAND"' ERR
curl() { command curl --fail-with-body --show-error --no-progress-meter "$@"; }
READMESERVERS=()
readme_serving() {  # a README line started `thingport serve` in the background: wait for it
  READMESERVERS+=("$1")
  local i
  for i in $(seq 600); do
    if command curl -s -o /dev/null -k "https://127.0.0.1:$HTTP_BIND_PORT/api/noauth/health" \
        || command curl -s -o /dev/null "http://127.0.0.1:$HTTP_BIND_PORT/api/noauth/health"; then
      return 0
    fi
    if ! kill -0 "$1" 2>/dev/null; then
      echo "the server exited:"; cat readme-serve.log; return 1
    fi
    sleep 0.05
  done
  echo "the server did not answer:"; cat readme-serve.log; return 1
}
readme_stop_servers() {
  local pid
  for pid in "${READMESERVERS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
  done
  READMESERVERS=()
}
"""


@dataclass(frozen=True)
class Block:
    """A fenced block of the README."""

    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip_reason: str | None

    @property
    def starts_a_server(self) -> bool:
        return bool(SERVE.search(self.text))


#: A line that runs the server in the foreground, with or without options.
SERVE = re.compile(r"^(?!\s*#)(.*\bthingport serve\b[^&|;#\n]*?)[ \t]*$", re.M)


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, in order."""
    lines = text.split("\n")
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("```"):
            index += 1
            continue
        start = index
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        assert end < len(lines), f"README.md:{start + 1}: the block is never closed"
        marker = SKIP_MARKER.match(lines[start - 1]) if start else None
        blocks.append(Block(start + 1, line[3:].strip(), "\n".join(lines[start + 1:end]) + "\n",
                            marker.group(1) if marker else None))
        index = end + 1
    return blocks


def shell_blocks() -> list[Block]:
    return [block for block in readme_blocks(README.read_text(encoding="utf-8"))
            if block.language == SHELL]


def test_every_block_names_its_language() -> None:
    """A new example in a bare fence would be neither run nor marked: refuse it."""
    text = README.read_text(encoding="utf-8")
    bare = [block.line for block in readme_blocks(text) if not block.language]
    assert not bare, f"README.md blocks without a language (```sh, ```text ...) at lines {bare}"
    other_shells = [block.line for block in readme_blocks(text)
                    if block.language in {"bash", "shell", "console", "zsh"}]
    assert not other_shells, f"README.md: shell examples are ```sh, lines {other_shells}"
    markers = [n + 1 for n, line in enumerate(text.split("\n")) if "test_readme.py" in line
               and line.startswith("<!--")]
    marked = [block.line - 1 for block in readme_blocks(text) if block.skip_reason]
    assert markers == marked, "a 'not run by' marker that is not right before a block"
    assert all(block.language == SHELL for block in readme_blocks(text) if block.skip_reason)


ASSIGNMENT = re.compile(r"""([A-Za-z_]\w*)=(?:"[^"]*"|'[^']*'|\$\([^)]*\)?|[^\s"'])*\s*""")
USE = re.compile(r"\$\{?([A-Za-z_]\w*)")


def assigned_names(code: str) -> list[str]:
    """The variables a line sets: its leading ``NAME=value`` words."""
    names = []
    rest = code.lstrip()
    while (found := ASSIGNMENT.match(rest)) is not None:
        names.append(found.group(1))
        rest = rest[found.end():]
    return names


def test_every_variable_is_set_before_it_is_used() -> None:
    """In reading order, across blocks (skipped ones too: a reader runs them)."""
    assigned: set[str] = set()
    unset: list[str] = []
    for block in shell_blocks():
        in_heredoc: str | None = None
        for number, line in enumerate(block.text.splitlines(), start=block.line + 1):
            if in_heredoc is not None:
                if line.strip() == in_heredoc:
                    in_heredoc = None
                continue
            heredoc = re.search(r"<<-?'(\w+)'", line)
            if heredoc:
                in_heredoc = heredoc.group(1)  # quoted: its text is not expanded
            code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            unset += [f"README.md:{number}: ${name}" for name in USE.findall(code)
                      if name not in assigned]
            assigned.update(assigned_names(code))
    assert not unset, "variables used before the README sets them:\n" + "\n".join(unset)


# --------------------------------------------------------------------------- the live run


def first_start_logins(text: str) -> dict[str, tuple[str, str]]:
    """authority -> (email, password) from a first-start announcement."""
    return {m.group(1): (m.group(2), m.group(3)) for m in LOGIN_LINE.finditer(text)}


class Session:
    """One bash process that runs the blocks; everything it starts is in its process group."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=cwd, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        (cwd / "readme-prelude.sh").write_text(PRELUDE)
        self.run_script("readme-prelude.sh")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run_script(self, name: str) -> tuple[bool, str]:
        """Source ``name``; (whether it succeeded, its output)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"source {name}\necho {DONE}\n")
        self.process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + BLOCK_TIMEOUT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                output.append(f"[no end after {BLOCK_TIMEOUT_S:.0f} s]\n")
                return False, "".join(output)
            if line is None:  # set -e ended the shell: a command failed
                return False, "".join(output)
            if line.rstrip("\n").endswith(DONE):  # after the block's last line, or on it
                output.append(line.rstrip("\n")[:-len(DONE)])
                return True, "".join(output)
            output.append(line)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def session_env(home: Path, port: int) -> dict[str, str]:
    """A clean environment: this Python's scripts first on PATH, no THINGPORT_* or SSL_*."""
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "HTTP_BIND_ADDRESS": "127.0.0.1",
        "HTTP_BIND_PORT": str(port),
        "THINGPORT_LOG_LEVEL": "warning",
    }


@pytest.mark.slow
def test_the_readme_examples_run_as_written(tmp_path: Path) -> None:
    missing = [tool for tool in ("bash", "curl", "openssl") if shutil.which(tool) is None]
    if missing:
        message = f"the README's examples need {', '.join(missing)} (.ci/run installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path
    readme = README.read_text(encoding="utf-8")
    server = LiveServer(workdir / "thingport-data")
    # Generated passwords, printed once, as a reader's first start has them.
    for name in ("THINGPORT_SYSADMIN_PASSWORD", "THINGPORT_TENANT_ADMIN_PASSWORD"):
        server.env.pop(name, None)
    server.start()
    session: Session | None = None
    try:
        printed = first_start_logins(server.log())
        shown = first_start_logins(readme)
        assert "thingport: first start, created these logins:" in server.log()
        assert printed.keys() == shown.keys() == {"SYS_ADMIN", "TENANT_ADMIN"}, server.log()
        assert {k: v[0] for k, v in printed.items()} == {k: v[0] for k, v in shown.items()}
        replacements = {shown[k][1]: printed[k][1] for k in shown}
        replacements["localhost:8080"] = f"localhost:{server.port}"

        session = Session(workdir, session_env(workdir / "home", server.port))
        ran: list[int] = []
        skipped: list[tuple[int, str]] = []
        for number, block in enumerate(shell_blocks(), start=1):
            if block.skip_reason:
                skipped.append((block.line, block.skip_reason))
                continue
            script = block.text
            for old, new in replacements.items():
                script = script.replace(old, new)
            script = SERVE.sub(r"\1 >>readme-serve.log 2>&1 & readme_serving $!", script)
            if block.starts_a_server:
                server.stop()
                script += "readme_stop_servers\n"
            name = f"readme-block-{number:02d}.sh"
            (workdir / name).write_text(script)
            ok, output = session.run_script(name)
            assert ok, (f"README.md:{block.line}: this block failed:\n{block.text}\n"
                        f"--- as run ({name}):\n{script}\n--- output:\n{output}\n"
                        f"--- server log:\n{server.log()[-4000:]}")
            if block.starts_a_server:
                server.start()
            ran.append(block.line)
        print(f"\nREADME.md: ran {len(ran)} shell blocks; skipped {len(skipped)}:")
        for line, reason in skipped:
            print(f"  README.md:{line}: {reason}")
        assert len(ran) > len(skipped)
    finally:
        if session is not None:
            session.close()
        server.stop()
