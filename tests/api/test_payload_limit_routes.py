"""Body limits per route (worked out once at start) and per token (matched per request)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Local, login
from tests.live import SYSADMIN, TENANT_ADMIN
from thingport.app import create_app
from thingport.settings import Settings

LIMITS = "/api/v1/small-one/**=10;/api/v1/*/telemetry=30;/api/v1/**=1000"


async def _post(client: httpx.AsyncClient, token: str, action: str, size: int) -> int:
    body = '{"k":"' + "x" * (size - 8) + '"}'  # {"k":""} is 8 bytes
    assert len(body) == size
    answer = await client.post(f"/api/v1/{token}/{action}", content=body)
    return answer.status_code


@pytest.mark.parametrize("limits", [LIMITS, LIMITS.split(";", 1)[1]])
async def test_a_pattern_naming_a_token_and_route_patterns_all_hold(
    tmp_path: Path, limits: str
) -> None:
    settings = Settings(
        data_dir=str(tmp_path), jwt_signing_key="k" * 48, sysadmin_password=SYSADMIN[1],
        tenant_admin_password=TENANT_ADMIN[1], payload_limits=limits,
    )
    app = create_app(settings)
    async with app.rest.router.lifespan_context(app.rest):
        client = await login(app, *TENANT_ADMIN)
        local = Local(app, app.rest.state.services, client)
        try:
            _, small = await local.create_device(accessToken="small-one")
            _, other = await local.create_device(accessToken="other-one")
            if limits == LIMITS:
                # The token's own pattern comes first: 10 bytes for it, on every route.
                assert await _post(client, small, "telemetry", 10) == 200
                assert await _post(client, small, "telemetry", 11) == 413
                assert await _post(client, small, "attributes", 11) == 413
            else:  # no pattern names a token: the limits were worked out per route at start
                assert app.device_api.route_limits["telemetry"] == 30
                assert await _post(client, small, "attributes", 11) == 200
            # Anyone else: 30 bytes of telemetry, 1000 of attributes.
            for token in {other} if limits == LIMITS else {small, other}:
                assert await _post(client, token, "telemetry", 30) == 200
                assert await _post(client, token, "telemetry", 31) == 413
                assert await _post(client, token, "attributes", 31) == 200
                assert await _post(client, token, "attributes", 1001) == 413
        finally:
            await client.aclose()
