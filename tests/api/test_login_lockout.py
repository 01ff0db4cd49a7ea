"""Account lockout after too many wrong passwords (ThingsBoard's maxFailedLoginAttempts): the
answers, who unlocks, the delay, and the count shared by nodes on one PostgreSQL database."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.api.logins import (
    PASSWORD,
    client,
    logged_in,
    login,
    message,
    new_user,
    running,
    services_of,
    set_max_failed,
)
from tests.live import SYSADMIN, TENANT_ADMIN
from tests.store.conftest import postgres_schema
from thingport.clock import now_ms
from thingport.errors import NotFound
from thingport.services.login_guard import INVALID, LOCKED, NOT_ACTIVE

# High enough that the per-address limit never gets in the way of these tests.
NO_ADDRESS_LIMIT = {"login_max_failures": 1000}


async def test_the_wrong_password_after_the_allowed_ones_locks_the_account(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, **NO_ADDRESS_LIMIT) as app:
        await set_max_failed(app, 3)
        user = await new_user(app)
        for _ in range(3):
            wrong = await login(app, user.email, "wrong")
            assert wrong.status_code == 401 and message(wrong) == INVALID
        locked = await login(app, user.email, "wrong again")
        assert locked.status_code == 401
        assert locked.json()["errorCode"] == 10 and message(locked) == LOCKED
        # Locked: the right password does not open it either.
        right = await login(app, user.email, PASSWORD)
        assert right.status_code == 401 and message(right) == LOCKED

        async with logged_in(app, *TENANT_ADMIN) as admin:
            shown = (await admin.get(f"/api/user/{user.id}")).json()
            assert shown["additionalInfo"]["userCredentialsEnabled"] is False
            unlocked = await admin.post(f"/api/user/{user.id}/userCredentialsEnabled",
                                        params={"userCredentialsEnabled": "true"})
            assert unlocked.status_code == 200
            shown = (await admin.get(f"/api/user/{user.id}")).json()
            assert shown["additionalInfo"]["userCredentialsEnabled"] is True
        assert (await login(app, user.email, PASSWORD)).status_code == 200
        # Unlocking cleared the count: three wrong ones are allowed again.
        for _ in range(3):
            assert message(await login(app, user.email, "wrong")) == INVALID


async def test_a_right_password_starts_the_count_again(tmp_path: Path) -> None:
    async with running(tmp_path, **NO_ADDRESS_LIMIT) as app:
        await set_max_failed(app, 2)
        user = await new_user(app)
        for _ in range(2):
            assert message(await login(app, user.email, "wrong")) == INVALID
        assert (await login(app, user.email, PASSWORD)).status_code == 200
        for _ in range(2):
            assert message(await login(app, user.email, "wrong")) == INVALID
        assert message(await login(app, user.email, "wrong")) == LOCKED


async def test_the_default_locks_after_ten_and_zero_never_locks(tmp_path: Path) -> None:
    async with running(tmp_path, **NO_ADDRESS_LIMIT) as app:
        user = await new_user(app)
        for _ in range(10):
            assert message(await login(app, user.email, "wrong")) == INVALID
        assert message(await login(app, user.email, "wrong")) == LOCKED

        await set_max_failed(app, 0)
        other = await new_user(app)
        for _ in range(12):
            assert message(await login(app, other.email, "wrong")) == INVALID
        assert (await login(app, other.email, PASSWORD)).status_code == 200


async def test_the_lock_lifts_once_the_delay_is_over(tmp_path: Path) -> None:
    async with running(tmp_path, login_lockout_s=60, **NO_ADDRESS_LIMIT) as app:
        await set_max_failed(app, 1)
        user = await new_user(app)
        lockout = services_of(app).auth.lockout
        await login(app, user.email, "wrong")
        assert message(await login(app, user.email, "wrong")) == LOCKED
        started = now_ms()
        lockout.clock = lambda: started + 59_000
        assert message(await login(app, user.email, PASSWORD)) == LOCKED
        lockout.clock = lambda: started + 61_000
        assert (await login(app, user.email, PASSWORD)).status_code == 200
        # The count starts from zero after the delay.
        assert message(await login(app, user.email, "wrong")) == INVALID


async def test_with_no_delay_only_an_administrator_unlocks(tmp_path: Path) -> None:
    async with running(tmp_path, login_lockout_s=0, **NO_ADDRESS_LIMIT) as app:
        await set_max_failed(app, 1)
        user = await new_user(app)
        await login(app, user.email, "wrong")
        assert message(await login(app, user.email, "wrong")) == LOCKED
        services_of(app).auth.lockout.clock = lambda: now_ms() + 365 * 86_400_000
        assert message(await login(app, user.email, PASSWORD)) == LOCKED
        # The CLI's way (the same method on the services).
        assert (await services_of(app).users.unlock(user.email.upper())).id == user.id
        assert (await login(app, user.email, PASSWORD)).status_code == 200
        with pytest.raises(NotFound):
            await services_of(app).users.unlock("nobody@x.io")


async def test_a_disabled_or_not_activated_account_is_not_active(tmp_path: Path) -> None:
    async with running(tmp_path, login_lockout_s=1, **NO_ADDRESS_LIMIT) as app:
        user = await new_user(app)
        async with logged_in(app, *TENANT_ADMIN) as admin:
            disabled = await admin.post(f"/api/user/{user.id}/userCredentialsEnabled",
                                        params={"userCredentialsEnabled": "false"})
            assert disabled.status_code == 200
            refused = await login(app, user.email, PASSWORD)
            assert refused.status_code == 401 and message(refused) == NOT_ACTIVE
            # No lockout delay lifts an administrator's disable.
            services_of(app).auth.lockout.clock = lambda: now_ms() + 86_400_000
            assert message(await login(app, user.email, PASSWORD)) == NOT_ACTIVE
            # Enabling is the default of the parameter.
            enabled = await admin.post(f"/api/user/{user.id}/userCredentialsEnabled")
            assert enabled.status_code == 200
            assert (await login(app, user.email, PASSWORD)).status_code == 200

            created = await admin.post("/api/user", json={"email": "new@x.io",
                                                          "authority": "TENANT_ADMIN"})
            assert created.status_code == 200
            waiting = await login(app, "new@x.io", "anything")
            assert waiting.status_code == 401 and message(waiting) == NOT_ACTIVE


async def test_who_may_lock_and_unlock_whom(tmp_path: Path) -> None:
    async with running(tmp_path, **NO_ADDRESS_LIMIT) as app:
        user = await new_user(app)
        path = f"/api/user/{user.id}/userCredentialsEnabled"
        async with logged_in(app, *SYSADMIN) as sysadmin:
            other_tenant = (await sysadmin.post("/api/tenant", json={"title": "Other"})).json()
            stranger = await sysadmin.post("/api/user", json={
                "email": "other-admin@x.io", "authority": "TENANT_ADMIN",
                "tenantId": other_tenant["id"]})
            stranger_id = stranger.json()["id"]["id"]
            await services_of(app).users.set_password("other-admin@x.io", PASSWORD)
            assert (await sysadmin.post(path, params={"userCredentialsEnabled": "false"})
                    ).status_code == 200
            assert (await sysadmin.post(path)).status_code == 200
            bad = await sysadmin.post(path, params={"userCredentialsEnabled": "yes please"})
            assert bad.status_code == 400 and bad.json()["errorCode"] == 31
            missing = await sysadmin.post(
                "/api/user/5b3e1f2c-0000-4000-8000-000000000000/userCredentialsEnabled")
            assert missing.status_code == 404
        async with logged_in(app, "other-admin@x.io", PASSWORD) as stranger_admin:
            assert (await stranger_admin.post(path, params={"userCredentialsEnabled": "false"})
                    ).status_code == 404
        async with logged_in(app, *TENANT_ADMIN) as admin:
            foreign = f"/api/user/{stranger_id}/userCredentialsEnabled"
            assert (await admin.post(foreign)).status_code == 404
        async with client(app) as anonymous:
            assert (await anonymous.post(path)).status_code == 401
        assert (await login(app, user.email, PASSWORD)).status_code == 200


async def test_the_count_and_the_lock_are_shared_by_nodes_on_postgresql(tmp_path: Path) -> None:
    async with postgres_schema() as url, contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            running(tmp_path / "a", database_url=url, **NO_ADDRESS_LIMIT))
        second = await stack.enter_async_context(
            running(tmp_path / "b", database_url=url, **NO_ADDRESS_LIMIT))
        await set_max_failed(first, 3)
        user = await new_user(first)
        for node in (first, second, first):
            assert message(await login(node, user.email, "wrong")) == INVALID
        assert message(await login(second, user.email, "wrong")) == LOCKED
        assert message(await login(first, user.email, PASSWORD)) == LOCKED
        async with logged_in(second, *TENANT_ADMIN) as admin:
            await admin.post(f"/api/user/{user.id}/userCredentialsEnabled")
        assert (await login(first, user.email, PASSWORD)).status_code == 200
