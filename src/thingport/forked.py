"""Workers forked from the primary at start, before it runs any thread.

A forked worker shares the pages of every module the primary has imported (copy-on-write)
instead of importing uvicorn, Starlette and thingport again into memory of its own, and it
starts serving without importing anything. It is forked before the store is open (the primary
runs no thread and no event loop yet, so nothing is copied mid-flight) and waits until the
primary says ``go``, once the store is open. A worker that dies later is replaced by a new
interpreter (``workers.py``): a running primary has threads, and a fork would copy them
mid-flight.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
import traceback
from collections.abc import Callable
from typing import Final, NoReturn

_PR_SET_PDEATHSIG: Final = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (even by SIGKILL), and end it
    at once if the parent has died already (it was ``parent`` at the start)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


class ForkedWorker:
    """A worker process forked by this one; the calls of ``subprocess.Popen`` the primary's
    ``Workers`` makes of a worker it started as a new interpreter."""

    def __init__(self, pid: int, go: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._go = go

    @classmethod
    def fork(cls, work: Callable[[], None], close: Callable[[], None]) -> ForkedWorker:
        """Fork a process that runs ``work`` once told ``go``; in it, ``close`` first closes
        what this process has open that the worker must not hold."""
        read, write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - a forked process' coverage is not collected
            os.close(write)
            _exit_after(lambda: _wait_then_work(parent, read, close, work))
        os.close(read)
        return cls(pid, write)

    def go(self) -> None:
        """Let the worker start serving (the store it relies on is open)."""
        with contextlib.suppress(OSError):  # it died already: ``poll`` says so
            os.write(self._go, b"go")
        self.close_pipe()

    def poll(self) -> int | None:
        """Its exit code (negative: the signal that ended it), None while it runs."""
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
                    self.close_pipe()
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to exit, ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.02)
        return code

    def close_pipe(self) -> None:
        """Close this process' end of the ``go`` pipe (said or not: without a word the worker
        exits; a worker forked later closes the copy it inherited)."""
        if self._go >= 0:
            os.close(self._go)
            self._go = -1


def _wait_then_work(parent: int, go: int, close: Callable[[], None],
                    work: Callable[[], None]) -> None:
    close()
    die_with_parent(parent)
    try:
        told = os.read(go, 2)
    except KeyboardInterrupt:  # Ctrl-C before the server had started
        return
    os.close(go)
    if told == b"go":  # else the primary is gone or gave up starting
        work()


def _exit_after(body: Callable[[], None]) -> NoReturn:
    """Run a forked process' ``body`` and end the process, never returning into the code it
    was forked from (that would run the primary's cleanup a second time)."""
    code = 0
    try:
        body()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        logging.shutdown()
    os._exit(code)
