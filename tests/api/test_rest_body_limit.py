"""The REST API's body limit: counted on the Content-Length and on the bytes received (a
chunked body has no Content-Length), answered 413 in the device API's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.live import TENANT_ADMIN
from tests.seed import Seed, app_settings
from thingport.app import create_app

LIMIT = 1000


async def _chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def _telemetry(size: int) -> bytes:
    """A telemetry object of exactly ``size`` bytes."""
    head, tail = b'{"note":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_rest_body_past_the_limit_is_413_declared_or_chunked(tmp_path: Path,
                                                                      seed: Seed) -> None:
    app = create_app(app_settings(seed.copy_to(tmp_path), rest_max_payload=LIMIT))
    async with app.rest.router.lifespan_context(app.rest), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        client.headers["X-Authorization"] = f"Bearer {seed.tokens[TENANT_ADMIN[0]]}"
        created = await client.post("/api/device", json={"name": "limited"})
        created.raise_for_status()
        url = (f"/api/plugins/telemetry/DEVICE/{created.json()['id']['id']}"
               "/timeseries/ANY")
        headers = {"content-type": "application/json"}

        fits = await client.post(url, content=_telemetry(LIMIT), headers=headers)
        assert fits.status_code == 200, fits.text
        fits_chunked = await client.post(url, content=_chunks(_telemetry(LIMIT)),
                                         headers=headers)
        assert fits_chunked.status_code == 200, fits_chunked.text

        declared = await client.post(url, content=_telemetry(LIMIT + 1), headers=headers)
        chunked = await client.post(url, content=_chunks(_telemetry(LIMIT + 1)),
                                    headers=headers)
        for refused in (declared, chunked):
            assert refused.status_code == 413
            assert refused.json()["message"] == f"Payload size exceeds the limit of {LIMIT} bytes"
