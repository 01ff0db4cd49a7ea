"""Customers of a tenant, their devices and users, and claiming devices as a customer user.

Who sees what: a tenant administrator any of its tenant's customers; a customer user only its
own customer (another is NotFound, as if it did not exist).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import Authority, ClaimResult, Customer, Device, Page, PageLink, User
from thingport.errors import BadRequest, NotFound, PermissionDenied
from thingport.services.auth import NOT_ALLOWED, Principal
from thingport.services.claiming import ClaimingService
from thingport.services.devices import DeviceService
from thingport.store.base import EntityStore, Store


@dataclass(frozen=True)
class ClaimOutcome:
    """A customer user's claim, and the device as it is after a success (None otherwise)."""

    result: ClaimResult
    device: Device | None = None


class CustomerService:
    """Create, find, change and delete a tenant's customers; assign them devices."""

    def __init__(self, store: Store, devices: DeviceService, claiming: ClaimingService) -> None:
        self._store = store
        self._devices = devices
        self._claiming = claiming

    async def save(
        self, tenant_id: UUID, title: object, *, customer_id: UUID | None = None,
        email: str | None = None, additional_info: object = None,
    ) -> Customer:
        """Create a customer, or update it when ``customer_id`` is given. BadRequest without a
        title; an ``additional_info`` that is not a JSON object is dropped."""
        if not isinstance(title, str) or not title.strip():
            raise BadRequest("Customer title should be specified!")
        info = additional_info if isinstance(additional_info, dict) else None
        if customer_id is None:
            customer = Customer(id=uuid.uuid4(), tenant_id=tenant_id, title=title,
                                created_time=now_ms(), email=email, additional_info=info)
        else:
            customer = await self.get(tenant_id, customer_id)
            customer.title, customer.email = title, email
            customer.additional_info = info
        await self._store.save_customer(customer)
        return customer

    async def get(self, tenant_id: UUID, customer_id: UUID) -> Customer:
        """The tenant's customer, or NotFound."""
        return await customer_of(self._store, tenant_id, customer_id)

    async def visible(self, caller: Principal, customer_id: UUID) -> Customer:
        """The customer, if the caller (a tenant administrator or customer user) may see it;
        NotFound otherwise."""
        if caller.authority is Authority.CUSTOMER_USER and caller.customer_id != customer_id:
            raise NotFound(f"Customer with id [{customer_id}] is not found")
        return await self.get(_tenant_of(caller), customer_id)

    async def find(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers."""
        return await self._store.find_customers(tenant_id, page_link)

    async def delete(self, tenant_id: UUID, customer_id: UUID) -> None:
        """Delete a customer and its users; its devices go back to the tenant (and every node
        forgets what it cached of them)."""
        await self.get(tenant_id, customer_id)
        assigned = await self._devices.find_all(tenant_id, customer_id=customer_id)
        await self._store.delete_customer(customer_id)
        for device in assigned:
            await self._devices.changed(device.id)

    async def devices(self, caller: Principal, customer_id: UUID, page_link: PageLink,
                      type: str | None = None) -> Page[Device]:
        """A page of the customer's devices (of one type if given), if the caller may see
        the customer."""
        customer = await self.visible(caller, customer_id)
        return await self._devices.find(customer.tenant_id, page_link,
                                        customer_id=customer.id, type=type)

    async def users(self, tenant_id: UUID, customer_id: UUID,
                    page_link: PageLink) -> Page[User]:
        """A page of the tenant's customer's users."""
        await self.get(tenant_id, customer_id)
        return await self._store.find_users(tenant_id, customer_id, page_link, None)

    async def assign_device(self, tenant_id: UUID, customer_id: UUID,
                            device_id: UUID) -> Device:
        """Give the tenant's device to one of its customers."""
        customer = await self.get(tenant_id, customer_id)
        return await self._devices.assign_customer(tenant_id, device_id, customer.id)

    async def unassign_device(self, tenant_id: UUID, device_id: UUID) -> Device:
        """Take a device back from its customer; BadRequest when it has none."""
        current = await self._devices.get(tenant_id, device_id)
        if current.customer_id is None:
            raise BadRequest("Device isn't assigned to any customer!")
        return await self._devices.assign_customer(tenant_id, device_id, None)

    async def claim(self, caller: Principal, device_name: str, secret_key: str,
                    client: str = "") -> ClaimOutcome:
        """A customer user claims its tenant's device by name with the device's secret
        (``client``: the caller's address, whose failures are counted)."""
        tenant_id = _tenant_of(caller)
        if caller.customer_id is None:
            raise PermissionDenied(NOT_ALLOWED)
        device = await self._devices.get_by_name(tenant_id, device_name)
        result = await self._claiming.claim(device, caller.customer_id, secret_key, client)
        if result is not ClaimResult.SUCCESS:
            return ClaimOutcome(result)
        return ClaimOutcome(result, await self._devices.get(tenant_id, device.id))

    async def reclaim(self, caller: Principal, device_name: str) -> Device:
        """Give a claimed device back (a customer user only its own customer's): it leaves
        its customer and may be claimed again."""
        device = await self._devices.get_by_name(_tenant_of(caller), device_name)
        if caller.authority is Authority.CUSTOMER_USER and device.customer_id != caller.customer_id:
            raise NotFound(f"Device with name [{device.name}] is not found")
        return await self._claiming.reclaim(device)


async def customer_of(store: EntityStore, tenant_id: UUID, customer_id: UUID) -> Customer:
    """The tenant's customer, or NotFound (also for another tenant's customer)."""
    customer = await store.get_customer(customer_id)
    if customer is None or customer.tenant_id != tenant_id:
        raise NotFound(f"Customer with id [{customer_id}] is not found")
    return customer


def _tenant_of(caller: Principal) -> UUID:
    if caller.tenant_id is None:
        # A system administrator: it has no tenant, so no customers.
        raise PermissionDenied(NOT_ALLOWED)
    return caller.tenant_id
