"""Password hashes (argon2id), computed off the event loop and only a few at a time.

An argon2id hash takes tens of milliseconds of CPU and 64 MiB of memory on purpose. Hashing runs
on a small pool of threads of its own, behind a semaphore of the same size: a flood of logins
waits in line for those threads (and gives up its place when its client goes away) instead of
filling the default executor or the machine's memory, so the rest of the server keeps
answering. The per-address login limit (``login_guard``) turns a flood away before it gets here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from argon2 import PasswordHasher

#: Hashes computed at once by default (a 2-core machine keeps a core for everything else).
DEFAULT_CONCURRENCY = 2

_T = TypeVar("_T")


class Passwords:
    """Hashes and checks passwords, at most ``concurrency`` at once."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY,
                 hasher: PasswordHasher | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be positive")
        self.concurrency = concurrency
        # Made by the first hash or check: argon2 is imported then, not by an idle server.
        self._hasher = hasher
        self._slots = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="thingport-password")
        self._decoy: str | None = None

    def _argon2(self) -> PasswordHasher:
        if self._hasher is None:
            from argon2 import PasswordHasher

            self._hasher = PasswordHasher()
        return self._hasher

    async def hash(self, password: str) -> str:
        """An argon2id hash of ``password``."""
        return await self._run(self._argon2().hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``. Without a hash (an unknown e-mail, an
        account with no password yet) a decoy hash is checked instead and the answer is False,
        so that the answer takes as long as for a real account and its timing does not tell
        which e-mails exist."""
        if password_hash is None:
            if self._decoy is None:
                self._decoy = await self.hash("thingport decoy password")
            await self._run(self._check, self._decoy, password)
            return False
        return await self._run(self._check, password_hash, password)

    def _check(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._argon2().verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, fn: Callable[..., _T], *args: str) -> _T:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def close(self) -> None:
        """Stop the threads (a hash still running finishes first)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
