"""``GET /api/device-connectivity/{deviceId}``: the command that sends a device's first
telemetry, as ThingsBoard's "Check connectivity" dialog shows it.

ThingsBoard answers protocol -> variant -> shell command; thingport speaks HTTP only, so the
answer is ``{"http": {"<scheme>": "curl ..."}}``. The host is the one the caller used (its
``Host`` header, without the scheme's default port) and the scheme the one it used (https when
the listener speaks TLS or a trusted proxy said so), because that is the address known to
reach this server: the command works when pasted. The other scheme is left out, since this
listener speaks only one of them. Only devices with an access token can use the HTTP device
API; for the others the answer has no command, only a message.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.common import JSONResponse, services, uuid_param, visible_device
from thingport.domain.model import CredentialsType
from thingport.errors import BadRequest

#: ThingsBoard's word where it has no command to offer.
CHECK_DOCUMENTATION: Final = "Check documentation"
_DEFAULT_PORT: Final = {"http": 80, "https": 443}
# A DNS name, an IPv4 address or a bracketed IPv6 address, and an optional port: nothing a
# shell or curl would read as more than a host.
_HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?")
#: ThingsBoard's example payload; thingport's lenient JSON accepts the unquoted key.
_PAYLOAD: Final = '"{temperature:25}"'


def publish_command(scheme: str, host: str, token: str) -> str:
    """The curl command posting ``{temperature:25}`` as the device with ``token``.

    The token is percent-encoded into the path (the server decodes it back), so neither the
    shell nor curl's URL globbing sees anything but the URL; the URL is shell-quoted too.
    """
    url = f"{scheme}://{host}/api/v1/{quote(token, safe='')}/telemetry"
    # curl would read an IPv6 address's brackets as a glob pattern.
    globoff = " -g" if host.startswith("[") else ""
    return (f"curl -v{globoff} -X POST {shlex.quote(url)} "
            f"--header Content-Type:application/json --data {_PAYLOAD}")


def client_host(request: Request, scheme: str) -> str:
    """``host[:port]`` as the caller reached us, without the scheme's default port; a Host
    header that is not a host is a 400."""
    raw = request.headers.get("host")
    if raw is None:
        server = request.scope.get("server")
        if not server:
            raise BadRequest("The request has no Host header")
        host, port = server
        raw = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    match = _HOST.fullmatch(raw.strip())
    if match is None:
        raise BadRequest("Invalid Host header")
    host, port = match.group(1), match.group(2)
    if port is None or int(port) == _DEFAULT_PORT[scheme]:
        return host
    return f"{host}:{port}"


async def device_connectivity(request: Request) -> Response:
    """Commands to check a device's connectivity, by protocol and scheme."""
    caller, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    assert caller.tenant_id is not None
    credentials = await services(request).devices.get_credentials(caller.tenant_id, device.id)
    body: dict[str, Any]
    if credentials.credentials_type is not CredentialsType.ACCESS_TOKEN:
        body = {"message": f"{CHECK_DOCUMENTATION}: the HTTP device API takes access tokens "
                           f"only, and this device has {credentials.credentials_type.value} "
                           "credentials"}
    else:
        # uvicorn has set the scheme from X-Forwarded-Proto when a trusted proxy sent it.
        scheme = "https" if request.url.scheme == "https" else "http"
        host = client_host(request, scheme)
        body = {"http": {scheme: publish_command(scheme, host, credentials.credentials_id)}}
    return JSONResponse(body)


routes = [
    Route("/api/device-connectivity/{deviceId}", device_connectivity, methods=["GET"]),
]
