"""The store contract's failed logins, policy locks and admin settings, on every backend."""

from __future__ import annotations

import asyncio
import uuid

from tests.store.conftest import StoreFactory
from thingport.domain.model import Authority, Tenant, User, UserCredentials
from thingport.store.base import Store


async def active_user(store: Store, tenant: Tenant) -> User:
    user = User(uuid.uuid4(), tenant.id, None, f"{uuid.uuid4().hex[:8]}@x.io",
                Authority.TENANT_ADMIN, 1)
    await store.save_user(user, UserCredentials(user.id, "hash"))
    return user


async def test_failed_logins_count_up_atomically_and_reset(store: Store, tenant: Tenant) -> None:
    user = await active_user(store, tenant)
    assert await store.add_failed_login(user.id) == 1
    # Concurrent failures (several nodes, several requests) each count.
    counts = await asyncio.gather(*(store.add_failed_login(user.id) for _ in range(10)))
    assert sorted(counts) == list(range(2, 12))
    credentials = await store.get_user_credentials(user.id)
    assert credentials is not None and credentials.failed_login_attempts == 11
    await store.reset_failed_logins(user.id)
    credentials = await store.get_user_credentials(user.id)
    assert credentials is not None and credentials.failed_login_attempts == 0
    assert await store.add_failed_login(uuid.uuid4()) == 0


async def test_a_policy_lock_is_lifted_once_and_only_if_it_still_holds(
    store: Store, tenant: Tenant,
) -> None:
    user = await active_user(store, tenant)
    await store.add_failed_login(user.id)
    await store.lock_user_credentials(user.id, 1000)
    locked = await store.get_user_credentials(user.id)
    assert locked == UserCredentials(user.id, "hash", None, False, 1, 1000)
    assert not await store.unlock_user_credentials(user.id, 999)  # another lock's time
    assert await store.unlock_user_credentials(user.id, 1000)
    assert await store.get_user_credentials(user.id) == UserCredentials(user.id, "hash")
    assert not await store.unlock_user_credentials(user.id, 1000)  # lifted already

    # An administrator's disable is no policy lock: no delay lifts it.
    await store.lock_user_credentials(user.id, 2000)
    assert await store.set_user_credentials_enabled(user.id, False)
    assert not await store.unlock_user_credentials(user.id, 2000)
    disabled = await store.get_user_credentials(user.id)
    assert disabled is not None and not disabled.enabled and disabled.locked_at is None


async def test_enabling_clears_the_count_and_the_lock(store: Store, tenant: Tenant) -> None:
    user = await active_user(store, tenant)
    for _ in range(3):
        await store.add_failed_login(user.id)
    await store.lock_user_credentials(user.id, 5)
    assert await store.set_user_credentials_enabled(user.id, True)
    assert await store.get_user_credentials(user.id) == UserCredentials(user.id, "hash")
    assert not await store.set_user_credentials_enabled(uuid.uuid4(), True)


async def test_saving_credentials_writes_the_lock_state(store: Store, tenant: Tenant) -> None:
    user = await active_user(store, tenant)
    await store.add_failed_login(user.id)
    await store.lock_user_credentials(user.id, 7)
    # A new password (a reset) is saved as fresh credentials: unlocked, no failures.
    await store.save_user(user, UserCredentials(user.id, "new-hash"))
    assert await store.get_user_credentials(user.id) == UserCredentials(user.id, "new-hash")


async def test_admin_settings_round_trip_and_survive_a_restart(
    store_factory: StoreFactory,
) -> None:
    value = {"maxFailedLoginAttempts": 3, "passwordPolicy": {"minimumLength": 8},
             "zUnknown": [1, {"b": None}], "aField": "kept in its place"}
    store = store_factory()
    await store.open()
    try:
        assert await store.get_admin_settings("securitySettings") is None
        await store.save_admin_settings("securitySettings", {"old": True})
        await store.save_admin_settings("securitySettings", value)
        await store.save_admin_settings("other", {"x": 1})
    finally:
        await store.close()
    reopened = store_factory()
    await reopened.open()
    try:
        stored = await reopened.get_admin_settings("securitySettings")
        assert stored == value and list(stored) == list(value)
        assert await reopened.get_admin_settings("other") == {"x": 1}
    finally:
        await reopened.close()
