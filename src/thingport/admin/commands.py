"""What the CLI's store commands do, as functions over ``Services``.

The same function runs in the CLI's own process when no server has the store open, and in the
server (through ``admin.listener``) when one has: then the server's caches and waiting polls
see the change as they would a REST call's, and there is never a second writer on a SQLite file.
Arguments and results are plain JSON values, since they may cross the control socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final
from uuid import UUID

from thingport.domain.model import Authority, PageLink, Tenant
from thingport.errors import NotFound
from thingport.services import Services

Command = Callable[..., Awaitable[Any]]

#: Tenants read at most by ``tenant list`` and ``device list`` (a CLI listing, not a page).
MAX_TENANTS: Final = 100_000


async def find_tenant(services: Services, tenant: str | None) -> Tenant:
    """The tenant named by title or id, or the default (oldest) tenant."""
    if tenant is None:
        return await services.users.default_tenant()
    try:
        return await services.users.get_tenant(UUID(tenant))
    except ValueError:
        pass
    page_link = PageLink(1000, 0, text_search=tenant)
    for candidate in (await services.users.find_tenants(page_link)).data:
        if candidate.title == tenant:
            return candidate
    raise NotFound(f"no tenant titled {tenant!r}")


async def all_tenants(services: Services) -> list[Tenant]:
    """Every tenant, by title."""
    link = PageLink(MAX_TENANTS, 0, sort_property="title")
    return (await services.users.find_tenants(link)).data


async def device_create(services: Services, name: str, token: str | None = None,
                        device_type: str | None = None, tenant: str | None = None) -> str:
    """Create a device; its access token."""
    owner = await find_tenant(services, tenant)
    _, credentials = await services.devices.create(
        owner.id, name, type=device_type, access_token=token
    )
    return credentials.credentials_id


async def device_list(services: Services, tenant: str | None = None) -> list[list[str]]:
    """[tenant title, name, type, id, access token] of every device of ``tenant`` (all
    tenants when None), by tenant and name."""
    owners = [await find_tenant(services, tenant)] if tenant else await all_tenants(services)
    rows = []
    for owner in owners:
        for d in sorted(await services.devices.find_all(owner.id), key=lambda d: d.name):
            credentials = await services.devices.get_credentials(owner.id, d.id)
            rows.append([owner.title, d.name, d.type, str(d.id), credentials.credentials_id])
    return rows


async def device_token(services: Services, name: str, tenant: str | None = None) -> str:
    """A device's access token."""
    owner = await find_tenant(services, tenant)
    found = await services.devices.get_by_name(owner.id, name)
    return (await services.devices.get_credentials(owner.id, found.id)).credentials_id


async def tenant_create(services: Services, title: str) -> str:
    """Create a tenant; its id."""
    return str((await services.users.create_tenant(title)).id)


async def tenant_list(services: Services) -> list[list[str]]:
    """[title, id] of every tenant."""
    return [[t.title, str(t.id)] for t in await all_tenants(services)]


async def user_create(services: Services, email: str, password: str,
                      authority: str = Authority.TENANT_ADMIN.value,
                      tenant: str | None = None) -> str:
    """Create a user (an active one, with ``password``); its id."""
    role = Authority(authority)
    owner_id = None if role is Authority.SYS_ADMIN else (await find_tenant(services, tenant)).id
    created, _ = await services.users.create_user(owner_id, None, email, role, password=password)
    return str(created.id)


async def user_password(services: Services, email: str, password: str) -> str:
    """Give a user a new password (a lost one), which also unlocks the account; its id."""
    return str((await services.users.set_password(email, password)).id)


async def user_unlock(services: Services, email: str) -> str:
    """Unlock an account that failed logins locked (or an administrator disabled); its id."""
    return str((await services.users.unlock(email)).id)


#: Every command, by the name the control socket knows it by.
COMMANDS: Final[dict[str, Command]] = {
    "device.create": device_create,
    "device.list": device_list,
    "device.token": device_token,
    "tenant.create": tenant_create,
    "tenant.list": tenant_list,
    "user.create": user_create,
    "user.password": user_password,
    "user.unlock": user_unlock,
}
