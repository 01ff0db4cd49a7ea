"""Firmware and software packages: ``/api/otaPackage...``, ``/api/otaPackages...``.

The upload is the one REST call whose body is not held in memory and not bound by
``THINGPORT_REST_MAX_PAYLOAD_SIZE``: python-multipart spools the file to a temporary file, the
OTA service reads it from there in 1 MiB chunks into the store, and the limit is
``THINGPORT_OTA_MAX_SIZE``, counted on the bytes received.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import thingport.api.render as render
from thingport.api.common import (
    JSONResponse,
    empty_ok,
    entity_uuid,
    json_object,
    page_link,
    services,
    tenant_admin,
    text_field,
    uuid_param,
)
from thingport.domain.model import ChecksumAlgorithm
from thingport.errors import BadRequest, NotFound
from thingport.http.asgi import (
    attachment_headers,
    content_length,
    limited_receive,
    payload_too_large,
)
from thingport.http.operations import PAGE, Body, Param, operation
from thingport.services.ota import parse_algorithm, parse_type

#: Room for the multipart framing and the small form fields around the file itself.
FORM_OVERHEAD = 1 << 20
#: Form fields besides the file (checksumAlgorithm and checksum may come as fields, as Spring
#: reads request parameters from either place).
MAX_FORM_FIELDS = 16


async def save_info(request: Request) -> Response:
    """``POST /api/otaPackage``: create a package (bytes uploaded next, or an external
    ``url``), or change an existing one's additionalInfo."""
    _, tenant_id = await tenant_admin(request)
    body = await json_object(request)
    kind = text_field(body, "type")
    algorithm = text_field(body, "checksumAlgorithm")
    info = body.get("additionalInfo")
    if info is not None and not isinstance(info, dict):
        raise BadRequest("additionalInfo must be a JSON object")
    # SaveOtaPackageInfoRequest's usesUrl: false means bytes, whatever url says.
    url = None if body.get("usesUrl") is False else text_field(body, "url")
    package = await services(request).ota.save(
        tenant_id,
        package_id=entity_uuid(body.get("id"), "id"),
        package_type=parse_type(kind) if kind else None,
        device_profile_id=entity_uuid(body.get("deviceProfileId"), "deviceProfileId"),
        title=text_field(body, "title"),
        version=text_field(body, "version"),
        tag=text_field(body, "tag") or None,
        url=url,
        checksum_algorithm=parse_algorithm(algorithm) if algorithm else None,
        checksum=text_field(body, "checksum") or None,
        additional_info=info,
    )
    return JSONResponse(render.ota_package(package))


@operation(query=(Param("checksumAlgorithm", True), Param("checksum")),
           body=Body("multipart/form-data", {"type": "object", "required": ["file"],
                     "properties": {"file": {"type": "string", "format": "binary"}}}))
async def upload_data(request: Request) -> Response:
    """``POST /api/otaPackage/{otaPackageId}?checksumAlgorithm=&checksum=``: the package's
    bytes as the multipart field ``file``, checked against ``checksum`` when given; answered
    once they are stored durably."""
    _, tenant_id = await tenant_admin(request)
    package_id = uuid_param(request.path_params["otaPackageId"])
    ota = services(request).ota
    limit: int = request.app.state.settings.ota_max_size
    # Fail before a large body is received when the query already says it is no good.
    early = request.query_params.get("checksumAlgorithm")
    if early:
        parse_algorithm(early)
    await ota.check_uploadable(tenant_id, package_id)
    if (content_length(request.scope) or 0) > limit + FORM_OVERHEAD:
        raise payload_too_large(limit)

    counted = Request(request.scope, limited_receive(request.receive, limit + FORM_OVERHEAD))
    async with counted.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest("Required request part 'file' is not present")

        def param(name: str) -> str | None:
            value = request.query_params.get(name) or form.get(name)
            return value if isinstance(value, str) and value else None

        algorithm_text = param("checksumAlgorithm")
        if algorithm_text is None:
            raise BadRequest("Required request parameter 'checksumAlgorithm' is not present")
        algorithm: ChecksumAlgorithm = parse_algorithm(algorithm_text)
        package = await ota.upload(
            tenant_id, package_id, file.read, algorithm=algorithm, checksum=param("checksum"),
            file_name=file.filename or "", content_type=file.content_type, max_size=limit,
        )
    return JSONResponse(render.ota_package(package))


async def download(request: Request) -> Response:
    """``GET /api/otaPackage/{otaPackageId}/download``: the bytes, streamed from the store."""
    _, tenant_id = await tenant_admin(request)
    ota = services(request).ota
    package = await ota.get(tenant_id, uuid_param(request.path_params["otaPackageId"]))
    if package.url:
        # ThingsBoard's answer for a URL package: there are no bytes to give.
        return Response(status_code=400)
    if not package.has_data or package.data_size is None:
        raise NotFound(f"OtaPackage with id [{package.id}] has no data")
    response = StreamingResponse(ota.stream(package, 0, package.data_size))
    response.raw_headers = attachment_headers(
        package.file_name or package.title, package.content_type, package.data_size)
    return response


async def get_info(request: Request) -> Response:
    """``GET /api/otaPackage/info/{otaPackageId}``."""
    _, tenant_id = await tenant_admin(request)
    package = await services(request).ota.get(
        tenant_id, uuid_param(request.path_params["otaPackageId"]))
    return JSONResponse(render.ota_package(package))


async def get_package(request: Request) -> Response:
    """``GET /api/otaPackage/{otaPackageId}``: the info (the bytes come from /download)."""
    return await get_info(request)


async def delete_package(request: Request) -> Response:
    """``DELETE /api/otaPackage/{otaPackageId}``: 400 while a device or profile uses it."""
    _, tenant_id = await tenant_admin(request)
    await services(request).ota.delete(
        tenant_id, uuid_param(request.path_params["otaPackageId"]))
    return empty_ok()


@operation(query=PAGE)
async def list_packages(request: Request) -> Response:
    """``GET /api/otaPackages?pageSize=&page=&textSearch=&sortProperty=&sortOrder=``."""
    _, tenant_id = await tenant_admin(request)
    result = await services(request).ota.find(tenant_id, page_link(request))
    return JSONResponse(render.page(result, render.ota_package))


@operation(query=PAGE)
async def list_profile_packages(request: Request) -> Response:
    """``GET /api/otaPackages/{deviceProfileId}/{type}``: the packages that can be assigned
    to the profile's devices (with bytes or a URL)."""
    _, tenant_id = await tenant_admin(request)
    svc = services(request)
    profile = await svc.devices.get_profile(
        tenant_id, uuid_param(request.path_params["deviceProfileId"]))
    kind = parse_type(request.path_params["type"])
    result = await svc.ota.find(tenant_id, page_link(request), device_profile_id=profile.id,
                                package_type=kind)
    return JSONResponse(render.page(result, render.ota_package))


routes = [
    Route("/api/otaPackage", save_info, methods=["POST"]),
    Route("/api/otaPackage/info/{otaPackageId}", get_info, methods=["GET"]),
    Route("/api/otaPackage/{otaPackageId}/download", download, methods=["GET"]),
    Route("/api/otaPackage/{otaPackageId}", get_package, methods=["GET"]),
    Route("/api/otaPackage/{otaPackageId}", upload_data, methods=["POST"]),
    Route("/api/otaPackage/{otaPackageId}", delete_package, methods=["DELETE"]),
    Route("/api/otaPackages", list_packages, methods=["GET"]),
    Route("/api/otaPackages/{deviceProfileId}/{type}", list_profile_packages, methods=["GET"]),
]
