"""``/api/tenant/deviceInfos`` and ``/api/customer/{id}/deviceInfos``: ThingsBoard's device table
rows, with the state the activity tracker keeps, in process."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Local

PAGE = {"pageSize": 10, "page": 0}


def names(body: dict[str, Any]) -> list[str]:
    return [row["name"] for row in body["data"]]


async def test_a_device_info_is_the_device_with_its_table_columns(local: Local) -> None:
    device, token = await local.create_device("thermostat-1")
    customer_id, _ = await local.customer_user("Acme")
    assigned = await local.client.post(
        f"/api/customer/{customer_id}/device/{device['id']['id']}")
    assert assigned.status_code == 200
    idle, _ = await local.create_device("idle-1")

    sent = await local.client.post(f"/api/v1/{token}/telemetry", content=b"{temperature:25}")
    assert sent.status_code == 200
    await local.services.activity.flush_all()

    response = await local.client.get("/api/tenant/deviceInfos", params=PAGE)
    assert response.status_code == 200
    body = response.json()
    assert (body["totalElements"], body["totalPages"], body["hasNext"]) == (2, 1, False)
    info = {row["name"]: row for row in body["data"]}
    plain = (await local.client.get(f"/api/device/{device['id']['id']}")).json()
    extra = {key: info["thermostat-1"].pop(key) for key in (
        "customerTitle", "customerIsPublic", "deviceProfileName", "active", "lastActivityTime")}
    assert info["thermostat-1"] == plain
    assert extra["customerTitle"] == "Acme" and extra["customerIsPublic"] is False
    assert extra["deviceProfileName"] == "default" and extra["active"] is True
    assert isinstance(extra["lastActivityTime"], int) and extra["lastActivityTime"] > 0
    assert info["idle-1"]["active"] is False and info["idle-1"]["lastActivityTime"] is None
    assert info["idle-1"]["customerTitle"] is None
    assert info["idle-1"]["id"] == idle["id"]


async def test_filters_search_sorting_and_paging(local: Local) -> None:
    profile = await local.client.post("/api/deviceProfile", json={"name": "Thermostats"})
    assert profile.status_code == 200
    profile_id = profile.json()["id"]["id"]
    for name in ("b-gw", "a-sensor", "c-sensor"):
        await local.create_device(name)
    _, token = await local.create_device("d-thermo")
    device = (await local.client.get("/api/tenant/device", params={"deviceName": "d-thermo"}))
    moved = {**device.json(), "deviceProfileId": {"entityType": "DEVICE_PROFILE",
                                                  "id": profile_id}}
    assert (await local.client.post("/api/device", json=moved)).status_code == 200
    assert (await local.client.get(f"/api/v1/{token}/attributes")).status_code == 200
    await local.services.activity.flush_all()

    async def listing(**params: Any) -> dict[str, Any]:
        response = await local.client.get("/api/tenant/deviceInfos",
                                          params={**PAGE, **params})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    assert names(await listing(active="true")) == ["d-thermo"]
    assert names(await listing(active="FALSE", sortProperty="name")) == [
        "a-sensor", "b-gw", "c-sensor"]
    assert names(await listing(deviceProfileId=profile_id)) == ["d-thermo"]
    assert names(await listing(textSearch="THERMOSTAT")) == ["d-thermo"]  # the profile name
    assert names(await listing(textSearch="sensor", sortProperty="name",
                               sortOrder="DESC")) == ["c-sensor", "a-sensor"]
    assert names(await listing(sortProperty="deviceProfileName", sortOrder="DESC"))[0] == \
        "d-thermo"
    page = await listing(pageSize=3, page=1, active="false")  # counted after filtering
    assert names(page) == []
    assert (page["totalElements"], page["totalPages"], page["hasNext"]) == (3, 1, False)
    page = await listing(pageSize=2, page=1, sortProperty="name")
    assert names(page) == ["c-sensor", "d-thermo"]
    assert (page["totalElements"], page["totalPages"], page["hasNext"]) == (4, 2, False)


@pytest.mark.parametrize("params", [
    {"active": "maybe"}, {"deviceProfileId": "not-a-uuid"}, {"sortProperty": "active"},
    {"sortOrder": "UP"}, {"pageSize": "0"}, {"pageSize": "ten"}, {"page": "-1"},
])
async def test_bad_parameters_are_400_with_a_message(local: Local, params: dict[str, Any]
                                                     ) -> None:
    response = await local.client.get("/api/tenant/deviceInfos", params={**PAGE, **params})
    assert response.status_code == 400
    assert response.json()["status"] == 400 and response.json()["message"]
    missing = await local.client.get("/api/tenant/deviceInfos", params={"page": 0})
    assert missing.status_code == 400


async def test_customer_device_infos_are_the_customers_own(local: Local) -> None:
    mine, _ = await local.create_device("mine")
    await local.create_device("unassigned")
    customer_id, user = await local.customer_user("Acme")
    other_id, other_user = await local.customer_user("Other")
    await local.client.post(f"/api/customer/{customer_id}/device/{mine['id']['id']}")

    for client in (user, local.client):
        response = await client.get(f"/api/customer/{customer_id}/deviceInfos", params=PAGE)
        assert response.status_code == 200
        assert names(response.json()) == ["mine"]
        assert response.json()["data"][0]["customerTitle"] == "Acme"
    empty = await local.client.get(f"/api/customer/{other_id}/deviceInfos", params=PAGE)
    assert empty.json()["totalElements"] == 0

    # A customer user sees neither the tenant's table nor another customer's.
    assert (await user.get("/api/tenant/deviceInfos", params=PAGE)).status_code == 403
    response = await other_user.get(f"/api/customer/{customer_id}/deviceInfos", params=PAGE)
    assert response.status_code == 404
    unknown = "6a5e2a3c-1111-4c1d-9c2a-0d7c8e0f9a01"
    response = await local.client.get(f"/api/customer/{unknown}/deviceInfos", params=PAGE)
    assert response.status_code == 404
    response = await local.client.get("/api/customer/nope/deviceInfos", params=PAGE)
    assert response.status_code == 400
    local.client.headers.pop("X-Authorization")
    assert (await local.client.get("/api/tenant/deviceInfos", params=PAGE)).status_code == 401
