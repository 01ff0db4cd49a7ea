"""Password hashing runs a bounded number at a time, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Literal

from argon2 import PasswordHasher

from thingport.services.passwords import Passwords


class SlowHasher(PasswordHasher):
    """Takes 50 ms a call and records how many calls ran at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def _slow(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._slow()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._slow()
        return super().verify(hash, password)


async def test_no_more_than_the_concurrency_hash_at_once() -> None:
    hasher = SlowHasher()
    passwords = Passwords(2, hasher)
    try:
        stored = await passwords.hash("right")
        results = await asyncio.gather(*(passwords.verify(stored, p)
                                         for p in ["right", "wrong"] * 5))
        assert results == [True, False] * 5
        assert hasher.most == 2
    finally:
        passwords.close()


async def test_the_event_loop_keeps_running_while_hashing() -> None:
    passwords = Passwords(1, SlowHasher())
    try:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        await asyncio.gather(*(passwords.hash("x") for _ in range(4)))  # 200 ms of hashing
        ticker.cancel()
        assert ticks >= 5
    finally:
        passwords.close()


async def test_no_hash_checks_a_decoy_and_is_false() -> None:
    hasher = SlowHasher()
    passwords = Passwords(1, hasher)
    try:
        assert not await passwords.verify(None, "anything")
        assert not await passwords.verify(None, "thingport decoy password")
        assert not await passwords.verify("not-a-hash", "anything")
    finally:
        passwords.close()
