"""Absurd sample times are a 400 on both the device API and the REST save, and nothing of the
request is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Local
from thingport.clock import now_ms
from thingport.services.telemetry import MAX_TS_AHEAD_MS

DAY_MS = 24 * 3600 * 1000


def absurd() -> list[int]:
    """Before 1970; just beyond a year ahead; in microseconds instead of milliseconds."""
    return [-1, now_ms() + MAX_TS_AHEAD_MS + DAY_MS, now_ms() * 1000]


def body(ts: int) -> list[dict[str, Any]]:
    # A good sample first: the whole request is refused, not only the bad group.
    return [{"ts": now_ms(), "values": {"good": 1}}, {"ts": ts, "values": {"t": 21.5}}]


@pytest.mark.parametrize("index", range(3))
async def test_the_device_api_refuses_an_absurd_ts_and_stores_nothing(
    local: Local, index: int,
) -> None:
    device, token = await local.create_device()
    ts = absurd()[index]
    response = await local.client.post(f"/api/v1/{token}/telemetry", json=body(ts))
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == 400
    assert f'"ts" {ts} is out of range' in error["message"]
    latest = await local.client.get(
        f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/timeseries")
    assert latest.json() == {}


@pytest.mark.parametrize("index", range(3))
async def test_the_rest_save_refuses_an_absurd_ts_and_stores_nothing(
    local: Local, index: int,
) -> None:
    device, _ = await local.create_device()
    device_id = device["id"]["id"]
    ts = absurd()[index]
    response = await local.client.post(
        f"/api/plugins/telemetry/DEVICE/{device_id}/timeseries/ANY", json=body(ts))
    assert response.status_code == 400
    assert f'"ts" {ts} is out of range' in response.json()["message"]
    latest = await local.client.get(f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries")
    assert latest.json() == {}


async def test_zero_and_up_to_a_year_ahead_are_accepted(local: Local) -> None:
    device, token = await local.create_device()
    ahead = now_ms() + MAX_TS_AHEAD_MS - DAY_MS
    response = await local.client.post(f"/api/v1/{token}/telemetry", json=[
        {"ts": 0, "values": {"t": 1}}, {"ts": ahead, "values": {"t": 2}}])
    assert response.status_code == 200
    history = await local.client.get(
        f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/timeseries",
        params={"keys": "t", "startTs": 0, "endTs": ahead + 1, "limit": 10})
    assert [p["ts"] for p in history.json()["t"]] == [ahead, 0]
