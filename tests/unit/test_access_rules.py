"""Who may create, see and change which tenant, user, customer and device, at the service level
(``UserService.*_as``, ``TenantService``, ``CustomerService``), over a real SQLite store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from thingport.domain.model import Authority, Customer, Device, PageLink, Tenant, User
from thingport.errors import BadRequest, NotFound, PermissionDenied
from thingport.services import Services
from thingport.services.auth import Principal
from thingport.services.channels import DEVICE_CHANGED, TENANT_PROFILES_CHANGED
from thingport.services.users import UserDraft

SYS, TENANT, CUSTOMER = Authority.SYS_ADMIN, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER
PAGE = PageLink(100, 0)


@dataclass
class World:
    """Two tenants, each with an administrator and a customer with one user."""

    sysadmin: Principal
    tenant: Tenant
    admin: Principal
    customer: Customer
    customer_user: Principal
    other_tenant: Tenant
    other_admin: Principal
    other_customer: Customer


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.email, user.authority, user.tenant_id, user.customer_id)


async def new_user(svc: Services, tenant: Tenant | None, authority: Authority,
                   customer: Customer | None = None) -> Principal:
    user, _ = await svc.users.create_user(
        tenant.id if tenant else None, customer.id if customer else None,
        f"{uuid.uuid4().hex[:8]}@x.io", authority,
    )
    return principal_of(user)


@pytest.fixture
async def world(svc: Services) -> World:
    tenant = await svc.users.create_tenant("A")
    other = await svc.users.create_tenant("B")
    customer = await svc.customers.save(tenant.id, "C")
    other_customer = await svc.customers.save(other.id, "D")
    return World(
        sysadmin=await new_user(svc, None, SYS),
        tenant=tenant, admin=await new_user(svc, tenant, TENANT), customer=customer,
        customer_user=await new_user(svc, tenant, CUSTOMER, customer),
        other_tenant=other, other_admin=await new_user(svc, other, TENANT),
        other_customer=other_customer,
    )


async def device_of(svc: Services, tenant: Tenant, customer: Customer | None = None,
                    type: str | None = None) -> Device:
    device, _ = await svc.devices.create(tenant.id, f"d-{uuid.uuid4().hex[:8]}", type=type,
                                         customer_id=customer.id if customer else None)
    return device


# Users


async def test_a_system_administrator_creates_tenant_administrators_of_a_tenant_only(
    svc: Services, world: World,
) -> None:
    users = svc.users
    created = await users.save_user_as(world.sysadmin, UserDraft(
        TENANT, tenant_id=world.tenant.id, customer_id=world.customer.id, email="t@x.io"))
    assert (created.tenant_id, created.customer_id, created.authority) == (
        world.tenant.id, None, TENANT)
    for draft in (UserDraft(CUSTOMER, tenant_id=world.tenant.id, customer_id=world.customer.id,
                            email="c@x.io"),
                  UserDraft(SYS, email="s@x.io"),
                  UserDraft(TENANT, email="no-tenant@x.io")):
        with pytest.raises(BadRequest, match="creates tenant administrators of a tenant"):
            await users.save_user_as(world.sysadmin, draft)
    with pytest.raises(NotFound, match="Tenant with id"):
        await users.save_user_as(world.sysadmin,
                                 UserDraft(TENANT, tenant_id=uuid.uuid4(), email="u@x.io"))


async def test_a_tenant_administrator_creates_users_of_its_own_tenant(
    svc: Services, world: World,
) -> None:
    users = svc.users
    # The tenant named in the body is not the caller's: the caller's wins.
    admin = await users.save_user_as(world.admin, UserDraft(
        TENANT, tenant_id=world.other_tenant.id, customer_id=world.customer.id, email="a@x.io"))
    assert (admin.tenant_id, admin.customer_id) == (world.tenant.id, None)
    user = await users.save_user_as(world.admin, UserDraft(
        CUSTOMER, customer_id=world.customer.id, email="c@x.io", first_name="Ada"))
    assert (user.tenant_id, user.customer_id, user.first_name) == (
        world.tenant.id, world.customer.id, "Ada")
    with pytest.raises(PermissionDenied):
        await users.save_user_as(world.admin, UserDraft(SYS, email="s@x.io"))
    with pytest.raises(BadRequest, match="needs a customerId"):
        await users.save_user_as(world.admin, UserDraft(CUSTOMER, email="n@x.io"))
    with pytest.raises(NotFound, match="Customer with id"):
        await users.save_user_as(world.admin, UserDraft(
            CUSTOMER, customer_id=world.other_customer.id, email="o@x.io"))
    with pytest.raises(BadRequest, match="Invalid email"):
        await users.save_user_as(world.admin, UserDraft(TENANT))


async def test_a_customer_user_creates_no_one(svc: Services, world: World) -> None:
    with pytest.raises(PermissionDenied):
        await svc.users.save_user_as(world.customer_user, UserDraft(
            CUSTOMER, customer_id=world.customer.id, email="c@x.io"))


async def test_an_update_changes_the_tenants_own_users_only(
    svc: Services, world: World,
) -> None:
    users = svc.users
    target = await users.get_user(world.customer_user.user_id)
    draft = UserDraft(CUSTOMER, customer_id=world.customer.id, user_id=target.id,
                      first_name="New", additional_info={"k": 1})
    changed = await users.save_user_as(world.admin, draft)
    assert (changed.email, changed.first_name, changed.additional_info) == (
        target.email, "New", {"k": 1})
    assert (await users.get_user(target.id)).first_name == "New"
    other_draft = UserDraft(CUSTOMER, customer_id=world.other_customer.id, user_id=target.id)
    with pytest.raises(NotFound, match=f"User with id \\[{target.id}\\]"):
        await users.save_user_as(world.other_admin, other_draft)
    with pytest.raises(NotFound, match="User with id"):
        await users.save_user_as(world.admin, UserDraft(TENANT, user_id=uuid.uuid4()))


async def test_who_sees_which_user(svc: Services, world: World) -> None:
    users = svc.users
    other_user = await new_user(svc, world.tenant, CUSTOMER, world.customer)
    target = world.customer_user.user_id
    for caller in (world.sysadmin, world.admin, world.customer_user):
        assert (await users.get_user_as(caller, target)).id == target
    for caller in (world.other_admin, other_user):
        with pytest.raises(NotFound):
            await users.get_user_as(caller, target)


async def test_credentials_and_activation_links_of_managed_users_only(
    svc: Services, world: World,
) -> None:
    users = svc.users
    target = world.customer_user.user_id
    await users.set_credentials_enabled_as(world.admin, target, False)
    credentials = await users.credentials(target)
    assert credentials is not None and not credentials.enabled
    await users.set_credentials_enabled_as(world.sysadmin, target, True)
    credentials = await users.credentials(target)
    assert credentials is not None and credentials.enabled
    with pytest.raises(NotFound):
        await users.set_credentials_enabled_as(world.other_admin, target, False)
    with pytest.raises(PermissionDenied):
        await users.set_credentials_enabled_as(world.customer_user, target, False)

    token = await users.activation_token_as(world.admin, target)
    with pytest.raises(NotFound):
        await users.activation_token_as(world.other_admin, target)
    await users.activate(token, "A-long-enough-passw0rd")
    with pytest.raises(BadRequest, match="already activated"):
        await users.activation_token_as(world.admin, target)


# Tenants


async def test_a_tenant_gets_the_default_profile_and_a_title(svc: Services) -> None:
    default = await svc.tenant_profiles.default_profile()
    tenant = await svc.tenants.save(None, "T", email="t@x.io")
    assert (tenant.title, tenant.email, tenant.tenant_profile_id) == ("T", "t@x.io", default.id)
    for title in (None, " ", 5):
        with pytest.raises(BadRequest, match="Tenant title should be specified"):
            await svc.tenants.save(tenant.id, title)
    with pytest.raises(NotFound, match="Tenant profile"):
        await svc.tenants.save(None, "T", profile_id=uuid.uuid4())
    with pytest.raises(NotFound, match="Tenant with id"):
        await svc.tenants.save(uuid.uuid4(), "T")


async def test_the_rate_limits_hear_of_a_tenant_changing_profile_only(svc: Services) -> None:
    tenant = await svc.tenants.save(None, "T")
    other = await svc.tenant_profiles.save(None, name="Other")
    async with svc.bus.subscribe(TENANT_PROFILES_CHANGED) as heard:
        await svc.tenants.save(tenant.id, "Renamed", additional_info={"a": 1})
        await svc.bus.publish(TENANT_PROFILES_CHANGED, b"marker")
        assert await heard.get(1) == (TENANT_PROFILES_CHANGED, b"marker")
        saved = await svc.tenants.save(tenant.id, "Renamed", profile_id=other.id)
        assert await heard.get(1) == (TENANT_PROFILES_CHANGED, b"")
    assert saved.tenant_profile_id == other.id
    stored = await svc.users.get_tenant(tenant.id)
    assert (stored.title, stored.tenant_profile_id) == ("Renamed", other.id)


async def test_who_sees_which_tenant(svc: Services, world: World) -> None:
    assert (await svc.tenants.get_as(world.sysadmin, world.tenant.id)).id == world.tenant.id
    assert (await svc.tenants.get_as(world.admin, world.tenant.id)).id == world.tenant.id
    with pytest.raises(NotFound):
        await svc.tenants.get_as(world.other_admin, world.tenant.id)
    with pytest.raises(PermissionDenied):
        await svc.tenants.get_as(world.customer_user, world.tenant.id)


# Customers


async def test_a_customer_needs_a_title_and_keeps_only_an_object_as_additional_info(
    svc: Services, world: World,
) -> None:
    customers = svc.customers
    for title in (None, "", 7):
        with pytest.raises(BadRequest, match="Customer title should be specified"):
            await customers.save(world.tenant.id, title)
    kept = await customers.save(world.tenant.id, "K", additional_info={"a": 1})
    dropped = await customers.save(world.tenant.id, "L", additional_info="text")
    assert (kept.additional_info, dropped.additional_info) == ({"a": 1}, None)
    with pytest.raises(NotFound, match="Customer with id"):
        await customers.save(world.tenant.id, "X", customer_id=world.other_customer.id)


async def test_who_sees_which_customer(svc: Services, world: World) -> None:
    customers = svc.customers
    assert (await customers.visible(world.admin, world.customer.id)).id == world.customer.id
    assert (await customers.visible(world.customer_user, world.customer.id)).title == "C"
    mine_too = await customers.save(world.tenant.id, "Another of A")
    for caller, customer_id in ((world.customer_user, mine_too.id),
                                (world.admin, world.other_customer.id)):
        with pytest.raises(NotFound, match=f"Customer with id \\[{customer_id}\\]"):
            await customers.visible(caller, customer_id)
    with pytest.raises(PermissionDenied):
        await customers.visible(world.sysadmin, world.customer.id)


async def test_a_customers_devices_and_users_are_listed_for_those_who_see_it(
    svc: Services, world: World,
) -> None:
    customers = svc.customers
    sensor = await device_of(svc, world.tenant, world.customer, type="sensor")
    lamp = await device_of(svc, world.tenant, world.customer, type="lamp")
    await device_of(svc, world.tenant)  # the tenant's own
    page = await customers.devices(world.customer_user, world.customer.id, PAGE)
    assert {d.id for d in page.data} == {sensor.id, lamp.id}
    page = await customers.devices(world.admin, world.customer.id, PAGE, "sensor")
    assert [d.id for d in page.data] == [sensor.id]
    with pytest.raises(NotFound):
        await customers.devices(world.other_admin, world.customer.id, PAGE)
    users = await customers.users(world.tenant.id, world.customer.id, PAGE)
    assert [u.id for u in users.data] == [world.customer_user.user_id]
    with pytest.raises(NotFound):
        await customers.users(world.other_tenant.id, world.customer.id, PAGE)


async def test_assigning_and_unassigning_devices(svc: Services, world: World) -> None:
    customers = svc.customers
    device = await device_of(svc, world.tenant)
    with pytest.raises(BadRequest, match="isn't assigned to any customer"):
        await customers.unassign_device(world.tenant.id, device.id)
    with pytest.raises(NotFound, match="Customer with id"):
        await customers.assign_device(world.tenant.id, world.other_customer.id, device.id)
    assigned = await customers.assign_device(world.tenant.id, world.customer.id, device.id)
    assert assigned.customer_id == world.customer.id
    assert (await customers.unassign_device(world.tenant.id, device.id)).customer_id is None
    with pytest.raises(NotFound, match="Device with id"):
        await customers.assign_device(world.other_tenant.id, world.other_customer.id, device.id)


async def test_deleting_a_customer_gives_its_devices_back_and_tells_every_node(
    svc: Services, world: World,
) -> None:
    devices = [await device_of(svc, world.tenant, world.customer) for _ in range(2)]
    async with svc.bus.subscribe(DEVICE_CHANGED) as heard:
        await svc.customers.delete(world.tenant.id, world.customer.id)
        told = {(await heard.get(1) or ("", b""))[1] for _ in devices}
    assert told == {d.id.bytes for d in devices}
    for device in devices:
        assert (await svc.devices.get(world.tenant.id, device.id)).customer_id is None
    with pytest.raises(NotFound):
        await svc.users.get_user(world.customer_user.user_id)
    with pytest.raises(NotFound, match="Customer with id"):
        await svc.customers.delete(world.tenant.id, world.other_customer.id)


async def test_claiming_and_giving_back_a_device(svc: Services, world: World) -> None:
    customers = svc.customers
    device = await device_of(svc, world.tenant)
    assert await svc.claiming.offer(device, "secret", 60_000)
    wrong = await customers.claim(world.customer_user, device.name, "guess", "10.0.0.1")
    assert (wrong.result, wrong.device) == ("FAILURE", None)
    with pytest.raises(PermissionDenied):
        await customers.claim(world.admin, device.name, "secret")
    claimed = await customers.claim(world.customer_user, device.name, "secret", "10.0.0.1")
    assert claimed.result == "SUCCESS"
    assert claimed.device is not None and claimed.device.customer_id == world.customer.id
    stranger = await new_user(svc, world.tenant, CUSTOMER,
                              await svc.customers.save(world.tenant.id, "E"))
    with pytest.raises(NotFound, match=f"Device with name \\[{device.name}\\]"):
        await customers.reclaim(stranger, device.name)
    released = await customers.reclaim(world.customer_user, device.name)
    assert released.customer_id is None
    with pytest.raises(NotFound):
        await customers.claim(world.customer_user, "no such device", "secret")
