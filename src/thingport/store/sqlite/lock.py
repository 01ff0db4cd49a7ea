"""One process per SQLite store: an exclusive lock on ``<database>.lock``.

Two servers on one file would each trust their own caches (tokens, deleted devices) and wake
only their own long polls, so the second one must refuse to start. SQLite's own locks cannot
say that: they serialise transactions, not processes. ``flock`` does, and the kernel drops it
when its process dies, even by SIGKILL, so a crash never leaves a stale lock behind. The file
keeps the holder's PID and what it is (``thingport serve``) for the message the next one gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Final

from thingport.errors import ConfigError

SUFFIX: Final = ".lock"


class StoreInUse(ConfigError):
    """Another process holds the store; ``pid`` and ``holder`` say which one."""

    def __init__(self, path: str, pid: int | None, holder: str) -> None:
        who = f"process {pid} ({holder})" if pid else "another process"
        super().__init__(
            f"the store {os.path.abspath(path)} is in use by {who}; stop it first, or give "
            "this one another THINGPORT_DATA_DIR"
        )
        self.pid = pid
        self.holder = holder


def lock_path(database: str) -> str:
    """The lock file of ``database``."""
    return database + SUFFIX


def read_holder(database: str) -> tuple[int | None, str]:
    """The PID and description the lock file of ``database`` names (None, "" if none)."""
    try:
        with open(lock_path(database), encoding="utf-8") as f:
            pid_text, _, holder = f.read().strip().partition(" ")
    except OSError:
        return None, ""
    return (int(pid_text) if pid_text.isdigit() else None), holder


class StoreLock:
    """The lock of one database file, held from ``acquire`` to ``release``."""

    def __init__(self, database: str, holder: str) -> None:
        self._database = database
        self._holder = holder
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise StoreInUse naming the process that has it."""
        try:
            fd = os.open(lock_path(self._database), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"Cannot open the SQLite database {self._database!r}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUse(self._database, *read_holder(self._database)) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self._holder}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the next process have the store. The file stays: removing it would race with
        a process that has just opened it."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def check_free(database: str) -> None:
    """StoreInUse now, rather than once the server has started, when another process holds
    ``database``; a file that does not exist yet is free."""
    if os.path.exists(database):
        lock = StoreLock(database, "")
        lock.acquire()
        lock.release()
