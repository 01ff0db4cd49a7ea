"""The tenant REST API, shaped like ThingsBoard's so that its REST clients work unchanged.

This module only assembles the routes of its submodules; they import nothing from it (the
exception handlers are in ``thingport.api.errors``)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from thingport.api import (
    auth,
    connectivity,
    customers,
    device_infos,
    devices,
    health,
    ota,
    profiles,
    rpc,
    security_settings,
    telemetry,
    tenant_profiles,
    tenants,
)
from thingport.api.openapi import docs_routes


def routes() -> list[BaseRoute]:
    """Every REST route."""
    # Literal paths (/api/tenant/devices) before parameterised ones (/api/tenant/{tenantId}).
    api = [*health.routes, *auth.routes, *devices.routes, *device_infos.routes,
           *connectivity.routes, *profiles.routes, *customers.routes, *tenant_profiles.routes,
           *tenants.routes, *telemetry.routes, *rpc.routes, *ota.routes, *security_settings.routes]
    return [*api, *docs_routes(api)]
