"""Tenant profiles over REST, as ThingsBoard's ``TenantProfileController`` (SYS_ADMIN only)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import thingport.api.render as render
from thingport.api.common import (
    JSONResponse,
    empty_ok,
    entity_uuid,
    json_object,
    page_link,
    principal,
    services,
    uuid_param,
)
from thingport.domain.model import Authority, TenantProfile
from thingport.errors import BadRequest
from thingport.http.operations import NO_BODY, PAGE, operation

ENTITY_TYPE = "TENANT_PROFILE"


def tenant_profile(p: TenantProfile) -> dict[str, Any]:
    """ThingsBoard's ``TenantProfile`` JSON."""
    return {
        "id": render.entity_id(ENTITY_TYPE, p.id),
        "createdTime": p.created_time,
        "name": p.name,
        "description": p.description,
        "default": p.default,
        "isolatedTbRuleEngine": p.isolated_tb_rule_engine,
        "profileData": p.profile_data,
    }


def tenant_profile_info(p: TenantProfile) -> dict[str, Any]:
    """ThingsBoard's ``EntityInfo`` of a profile: its id and name."""
    return {"id": render.entity_id(ENTITY_TYPE, p.id), "name": p.name}


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


async def save_tenant_profile(request: Request) -> Response:
    """Create (no ``id``) or update a profile; ``profileData`` kept as given."""
    await principal(request, Authority.SYS_ADMIN)
    body = await json_object(request)
    profile = await services(request).tenant_profiles.save(
        entity_uuid(body.get("id"), "id"), name=body.get("name"),
        description=body.get("description"), default=_flag(body, "default"),
        isolated_tb_rule_engine=_flag(body, "isolatedTbRuleEngine"),
        profile_data=body.get("profileData"),
    )
    return JSONResponse(tenant_profile(profile))


async def get_tenant_profile(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    profile_id = uuid_param(request.path_params["tenantProfileId"])
    return JSONResponse(tenant_profile(await services(request).tenant_profiles.get(profile_id)))


async def get_tenant_profile_info(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    profile_id = uuid_param(request.path_params["tenantProfileId"])
    profile = await services(request).tenant_profiles.get(profile_id)
    return JSONResponse(tenant_profile_info(profile))


async def default_tenant_profile_info(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    profile = await services(request).tenant_profiles.default_profile()
    return JSONResponse(tenant_profile_info(profile))


@operation(query=PAGE)
async def list_tenant_profiles(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    result = await services(request).tenant_profiles.find(page_link(request))
    return JSONResponse(render.page(result, tenant_profile))


@operation(query=PAGE)
async def list_tenant_profile_infos(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    result = await services(request).tenant_profiles.find(page_link(request))
    return JSONResponse(render.page(result, tenant_profile_info))


async def delete_tenant_profile(request: Request) -> Response:
    """400 for the default profile, or one a tenant has."""
    await principal(request, Authority.SYS_ADMIN)
    profile_id = uuid_param(request.path_params["tenantProfileId"])
    await services(request).tenant_profiles.delete(profile_id)
    return empty_ok()


@operation(body=NO_BODY)
async def set_default_tenant_profile(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    profile_id = uuid_param(request.path_params["tenantProfileId"])
    profile = await services(request).tenant_profiles.set_default(profile_id)
    return JSONResponse(tenant_profile(profile))


routes = [
    Route("/api/tenantProfile", save_tenant_profile, methods=["POST"]),
    Route("/api/tenantProfiles", list_tenant_profiles, methods=["GET"]),
    Route("/api/tenantProfileInfos", list_tenant_profile_infos, methods=["GET"]),
    Route("/api/tenantProfileInfo/default", default_tenant_profile_info, methods=["GET"]),
    Route("/api/tenantProfileInfo/{tenantProfileId}", get_tenant_profile_info,
          methods=["GET"]),
    Route("/api/tenantProfile/{tenantProfileId}/default", set_default_tenant_profile,
          methods=["POST"]),
    Route("/api/tenantProfile/{tenantProfileId}", get_tenant_profile, methods=["GET"]),
    Route("/api/tenantProfile/{tenantProfileId}", delete_tenant_profile, methods=["DELETE"]),
]
