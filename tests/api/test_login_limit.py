"""The per-address login limit: 429 with Retry-After before any hashing, so that a flood from
one address neither guesses on nor starves the logins of everyone else."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import httpx

from tests.api.logins import PASSWORD, client, login, message, new_user, running, services_of
from tests.live import TENANT_ADMIN
from tests.services import REDIS_URL, require_redis
from thingport.services.login_guard import INVALID
from thingport.services.passwords import Passwords


def assert_too_many(response: httpx.Response, window_s: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= window_s
    body = response.json()
    assert body["status"] == 429 and body["errorCode"] == 33
    assert body["message"].startswith("Too many failed login attempts")
    assert isinstance(body["timestamp"], int)


async def test_an_address_with_too_many_failures_is_answered_429(tmp_path: Path) -> None:
    async with running(tmp_path, login_max_failures=3, login_failure_window_s=60) as app:
        user = await new_user(app)
        for email in (user.email, "nobody@x.io", user.email):  # unknown e-mails count too
            assert message(await login(app, email, "wrong", "10.0.0.1")) == INVALID
        # Blocked: even the right password is not checked now.
        assert_too_many(await login(app, user.email, PASSWORD, "10.0.0.1"), 60)
        async with client(app, "10.0.0.1") as ui:
            session = await ui.post("/ui/session", headers={"X-Requested-With": "thingport"},
                                    json={"username": user.email, "password": PASSWORD})
        assert_too_many(session, 60)
        # Another address is not blocked, and a missing password is no failure.
        assert (await login(app, user.email, PASSWORD, "10.0.0.2")).status_code == 200
        async with client(app, "10.0.0.3") as other:
            for _ in range(5):
                empty = await other.post("/api/auth/login", json={"username": user.email})
                assert empty.status_code == 401
        assert (await login(app, *TENANT_ADMIN, address="10.0.0.3")).status_code == 200


async def test_a_flood_from_one_address_does_not_starve_another(tmp_path: Path) -> None:
    """Without the check before hashing (or with every request of the flood let through it at
    once), the 200 wrong passwords would be hashed first, two at a time: tens of seconds
    before the real login got its turn."""
    async with running(tmp_path, login_max_failures=5, login_failure_window_s=60) as app:
        passwords = services_of(app).auth.passwords
        hashed = 0
        check = Passwords._check

        def counting(password_hash: str, password: str) -> bool:
            nonlocal hashed
            hashed += 1
            return check(passwords, password_hash, password)

        passwords._check = counting  # type: ignore[method-assign]

        async def real_login() -> tuple[float, int]:
            await asyncio.sleep(0.05)  # the flood is under way
            started = time.monotonic()
            response = await login(app, *TENANT_ADMIN, address="10.0.0.20")
            return time.monotonic() - started, response.status_code

        async with client(app, "10.0.0.66") as flooder:
            flood = [flooder.post("/api/auth/login",
                                  json={"username": "nobody@x.io", "password": f"guess-{i}"})
                     for i in range(200)]
            real = asyncio.create_task(real_login())
            answers = await asyncio.gather(*flood)
            took, status = await real
        assert status == 200
        assert took < 5, f"the real login took {took:.1f} s"
        codes = [a.status_code for a in answers]
        assert codes.count(401) == 5 and codes.count(429) == 195
        for answer in answers:
            if answer.status_code == 429:
                assert_too_many(answer, 60)
        assert hashed == 6  # the flood's five, and the real login


async def test_nodes_share_the_count_through_redis(tmp_path: Path) -> None:
    require_redis()
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(256)}"
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(running(
            tmp_path / "a", redis_url=REDIS_URL, login_max_failures=3, login_failure_window_s=30))
        second = await stack.enter_async_context(running(
            tmp_path / "b", redis_url=REDIS_URL, login_max_failures=3, login_failure_window_s=30))
        for node in (first, second, first):
            assert message(await login(node, "nobody@x.io", "wrong", address)) == INVALID
        assert_too_many(await login(second, *TENANT_ADMIN, address=address), 30)
        assert_too_many(await login(first, *TENANT_ADMIN, address=address), 30)
