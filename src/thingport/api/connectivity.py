"""``GET /api/device-connectivity/{deviceId}``: the command that sends a device's first
telemetry, as ThingsBoard's "Check connectivity" dialog shows it.

ThingsBoard answers protocol -> variant -> shell command; thingport speaks HTTP only, so the
answer is ``{"http": {"<scheme>": "curl ..."}}``. The address is the public one
(``api.public_url``: THINGPORT_BASE_URL, else what a trusted proxy forwards, else the caller's
``Host`` header and scheme, without the scheme's default port), because that is the address
known to reach this server: the command works when pasted. The other scheme is left out, since this
listener speaks only one of them. Only devices with an access token can use the HTTP device
API; for the others the answer has no command, only a message.
"""

from __future__ import annotations

import shlex
from typing import Any, Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.common import JSONResponse, services, uuid_param, visible_device
from thingport.api.public_url import public_address
from thingport.domain.model import DeviceCredentialsType

#: ThingsBoard's word where it has no command to offer.
CHECK_DOCUMENTATION: Final = "Check documentation"
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


async def device_connectivity(request: Request) -> Response:
    """Commands to check a device's connectivity, by protocol and scheme."""
    caller, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    assert caller.tenant_id is not None
    credentials = await services(request).devices.get_credentials(caller.tenant_id, device.id)
    body: dict[str, Any]
    if credentials.credentials_type is not DeviceCredentialsType.ACCESS_TOKEN:
        body = {"message": f"{CHECK_DOCUMENTATION}: the HTTP device API takes access tokens "
                           f"only, and this device has {credentials.credentials_type.value} "
                           "credentials"}
    else:
        public = public_address(request)
        body = {"http": {public.scheme: publish_command(
            public.scheme, public.authority + public.prefix, credentials.credentials_id)}}
    return JSONResponse(body)


routes = [
    Route("/api/device-connectivity/{deviceId}", device_connectivity, methods=["GET"]),
]
