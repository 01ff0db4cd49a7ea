"""Device profiles and their provisioning settings: ``/api/deviceProfile...``."""

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
    tenant_admin,
    text_field,
    uuid_param,
)
from thingport.domain.model import Authority, ProvisionType
from thingport.errors import BadRequest
from thingport.http.operations import NO_BODY, PAGE, operation
from thingport.services.profiles import ProfileDraft

#: Who may read profile infos (a customer user needs them to show its devices).
INFO_READERS = (Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)


def _draft(body: dict[str, Any]) -> ProfileDraft:
    """A profile from ThingsBoard's DeviceProfile JSON."""
    data = body.get("profileData")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("profileData must be a JSON object")
    provisioning = data.get("provisionConfiguration")
    if provisioning is None:
        provisioning = {}
    if not isinstance(provisioning, dict):
        raise BadRequest("profileData.provisionConfiguration must be a JSON object")
    return ProfileDraft(
        id=entity_uuid(body.get("id"), "id"),
        name=text_field(body, "name") or "",
        description=text_field(body, "description"),
        type=text_field(body, "type") or "DEFAULT",
        transport_type=text_field(body, "transportType") or "DEFAULT",
        # provisionType wins; ThingsBoard's UI sends both, the same.
        provision_type=(text_field(body, "provisionType") or text_field(provisioning, "type")
                        or ProvisionType.DISABLED),
        provision_device_key=text_field(body, "provisionDeviceKey"),
        provision_device_secret=text_field(provisioning, "provisionDeviceSecret"),
        profile_data=data,
        default=body.get("default") is True,
        firmware_id=entity_uuid(body.get("firmwareId"), "firmwareId"),
        software_id=entity_uuid(body.get("softwareId"), "softwareId"),
    )


async def save_profile(request: Request) -> Response:
    """``POST /api/deviceProfile``: create (no id) or update a profile."""
    _, tenant_id = await tenant_admin(request)
    draft = _draft(await json_object(request))
    profile = await services(request).profiles.save(tenant_id, draft)
    return JSONResponse(render.device_profile(profile))


async def get_profile(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    profile_id = uuid_param(request.path_params["deviceProfileId"])
    profile = await services(request).profiles.get(tenant_id, profile_id)
    return JSONResponse(render.device_profile(profile))


async def delete_profile(request: Request) -> Response:
    """``DELETE /api/deviceProfile/{id}``: 400 for the default profile or one devices use."""
    _, tenant_id = await tenant_admin(request)
    profile_id = uuid_param(request.path_params["deviceProfileId"])
    await services(request).profiles.delete(tenant_id, profile_id)
    return empty_ok()


@operation(body=NO_BODY)
async def set_default_profile(request: Request) -> Response:
    """``POST /api/deviceProfile/{id}/default``: make it the tenant's default profile."""
    _, tenant_id = await tenant_admin(request)
    profile_id = uuid_param(request.path_params["deviceProfileId"])
    profile = await services(request).profiles.set_default(tenant_id, profile_id)
    return JSONResponse(render.device_profile(profile))


@operation(query=PAGE)
async def list_profiles(request: Request) -> Response:
    """``GET /api/deviceProfiles``: a page of the tenant's profiles."""
    _, tenant_id = await tenant_admin(request)
    result = await services(request).profiles.find(tenant_id, page_link(request))
    return JSONResponse(render.page(result, render.device_profile))


async def default_profile_info(request: Request) -> Response:
    caller = await principal(request, *INFO_READERS)
    assert caller.tenant_id is not None
    profile = await services(request).profiles.default(caller.tenant_id)
    return JSONResponse(render.device_profile_info(profile))


async def get_profile_info(request: Request) -> Response:
    caller = await principal(request, *INFO_READERS)
    assert caller.tenant_id is not None
    profile_id = uuid_param(request.path_params["deviceProfileId"])
    profile = await services(request).profiles.get(caller.tenant_id, profile_id)
    return JSONResponse(render.device_profile_info(profile))


@operation(query=PAGE)
async def list_profile_infos(request: Request) -> Response:
    """``GET /api/deviceProfileInfos``: a page of the tenant's profile infos."""
    caller = await principal(request, *INFO_READERS)
    assert caller.tenant_id is not None
    result = await services(request).profiles.find(caller.tenant_id, page_link(request))
    return JSONResponse(render.page(result, render.device_profile_info))


# Literal paths before the parameterised ones that would also match them.
routes = [
    Route("/api/deviceProfile", save_profile, methods=["POST"]),
    Route("/api/deviceProfiles", list_profiles, methods=["GET"]),
    Route("/api/deviceProfileInfo/default", default_profile_info, methods=["GET"]),
    Route("/api/deviceProfileInfos", list_profile_infos, methods=["GET"]),
    Route("/api/deviceProfile/{deviceProfileId}", get_profile, methods=["GET"]),
    Route("/api/deviceProfile/{deviceProfileId}", delete_profile, methods=["DELETE"]),
    Route("/api/deviceProfile/{deviceProfileId}/default", set_default_profile, methods=["POST"]),
    Route("/api/deviceProfileInfo/{deviceProfileId}", get_profile_info, methods=["GET"]),
]
