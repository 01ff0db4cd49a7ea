"""Customers of a tenant."""

from __future__ import annotations

import uuid
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import Customer, Page, PageLink
from thingport.errors import BadRequest, NotFound
from thingport.store.base import EntityStore


class CustomerService:
    """Create, find, change and delete a tenant's customers."""

    def __init__(self, store: EntityStore) -> None:
        self._store = store

    async def save(
        self, tenant_id: UUID, title: str, *, customer_id: UUID | None = None,
        email: str | None = None, additional_info: dict[str, object] | None = None,
    ) -> Customer:
        """Create a customer, or update it when ``customer_id`` is given."""
        if not isinstance(title, str) or not title.strip():
            raise BadRequest("Customer title should be specified!")
        if customer_id is None:
            customer = Customer(id=uuid.uuid4(), tenant_id=tenant_id, title=title,
                                created_time=now_ms(), email=email,
                                additional_info=additional_info)
        else:
            customer = await self.get(tenant_id, customer_id)
            customer.title, customer.email = title, email
            customer.additional_info = additional_info
        await self._store.save_customer(customer)
        return customer

    async def get(self, tenant_id: UUID, customer_id: UUID) -> Customer:
        """The tenant's customer, or NotFound."""
        customer = await self._store.get_customer(customer_id)
        if customer is None or customer.tenant_id != tenant_id:
            raise NotFound(f"Customer with id [{customer_id}] is not found")
        return customer

    async def find(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers."""
        return await self._store.find_customers(tenant_id, page_link)

    async def delete(self, tenant_id: UUID, customer_id: UUID) -> None:
        """Delete a customer and its users; its devices go back to the tenant."""
        await self.get(tenant_id, customer_id)
        await self._store.delete_customer(customer_id)
