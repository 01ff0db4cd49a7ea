"""Tenant profiles over REST (ThingsBoard's TenantProfileController), in process."""

from __future__ import annotations

import uuid

from tests.api.conftest import Local
from tests.live import SYSADMIN

CONFIGURATION = {"type": "DEFAULT", "maxDevices": 0, "transportDeviceMsgRateLimit": "20:1,600:60",
                 "aFieldThingportDoesNotKnow": {"kept": [1, "two"]}}


async def test_the_default_profile_exists_from_the_start(local: Local) -> None:
    admin = await local.login(*SYSADMIN)
    info = (await admin.get("/api/tenantProfileInfo/default")).json()
    assert info["name"] == "Default" and info["id"]["entityType"] == "TENANT_PROFILE"
    profile = (await admin.get(f"/api/tenantProfile/{info['id']['id']}")).json()
    assert profile["default"] is True
    assert profile["profileData"] == {"configuration": {"type": "DEFAULT"}}
    # The first tenant has it.
    tenants = (await admin.get("/api/tenants", params={"pageSize": 10, "page": 0})).json()
    assert tenants["data"][0]["tenantProfileId"] == info["id"]


async def test_create_read_update_list_and_delete(local: Local) -> None:
    admin = await local.login(*SYSADMIN)
    created = await admin.post("/api/tenantProfile", json={
        "name": "Gold", "description": "Big customers", "isolatedTbRuleEngine": False,
        "profileData": {"configuration": CONFIGURATION, "queueConfiguration": None}})
    assert created.status_code == 200, created.text
    profile = created.json()
    profile_id = profile["id"]["id"]
    assert profile["name"] == "Gold" and profile["default"] is False
    assert isinstance(profile["createdTime"], int)
    # Unknown fields of profileData are kept as given.
    read = (await admin.get(f"/api/tenantProfile/{profile_id}")).json()
    assert read == profile
    assert read["profileData"]["configuration"]["aFieldThingportDoesNotKnow"] == {
        "kept": [1, "two"]}
    info = (await admin.get(f"/api/tenantProfileInfo/{profile_id}")).json()
    assert info == {"id": profile["id"], "name": "Gold"}

    updated = await admin.post("/api/tenantProfile", json={**profile, "name": "Platinum"})
    assert updated.status_code == 200
    assert updated.json()["createdTime"] == profile["createdTime"]
    assert (await admin.get(f"/api/tenantProfile/{profile_id}")).json()["name"] == "Platinum"

    page = (await admin.get("/api/tenantProfiles", params={
        "pageSize": 1, "page": 0, "sortProperty": "name", "sortOrder": "DESC"})).json()
    assert [p["name"] for p in page["data"]] == ["Platinum"] and page["hasNext"]
    assert page["totalElements"] == 2
    found = (await admin.get("/api/tenantProfiles", params={
        "pageSize": 10, "page": 0, "textSearch": "plat"})).json()
    assert [p["name"] for p in found["data"]] == ["Platinum"]
    infos = (await admin.get("/api/tenantProfileInfos", params={"pageSize": 10, "page": 0})
             ).json()
    assert {p["name"] for p in infos["data"]} == {"Default", "Platinum"}

    assert (await admin.delete(f"/api/tenantProfile/{profile_id}")).status_code == 200
    assert (await admin.get(f"/api/tenantProfile/{profile_id}")).status_code == 404


async def test_moving_the_default(local: Local) -> None:
    admin = await local.login(*SYSADMIN)
    old = (await admin.get("/api/tenantProfileInfo/default")).json()["id"]["id"]
    second = await admin.post("/api/tenantProfile", json={"name": "Second", "default": True})
    assert second.status_code == 400
    assert second.json()["message"] == "Another default tenant profile is present!"
    second = await admin.post("/api/tenantProfile", json={"name": "Second"})
    new = second.json()["id"]["id"]
    made = await admin.post(f"/api/tenantProfile/{new}/default")
    assert made.status_code == 200 and made.json()["default"] is True
    assert (await admin.get("/api/tenantProfileInfo/default")).json()["id"]["id"] == new
    assert (await admin.get(f"/api/tenantProfile/{old}")).json()["default"] is False
    # The default cannot be deleted; a profile a tenant has cannot either.
    refused = await admin.delete(f"/api/tenantProfile/{new}")
    assert refused.status_code == 400
    assert refused.json()["message"] == "Deletion of Default Tenant Profile is prohibited!"
    in_use = await admin.delete(f"/api/tenantProfile/{old}")
    assert in_use.status_code == 400
    assert "referenced by the tenants" in in_use.json()["message"]
    # A new tenant without tenantProfileId gets the default of the moment.
    tenant = await admin.post("/api/tenant", json={"title": "Newcomer"})
    assert tenant.json()["tenantProfileId"]["id"] == new


async def test_bad_profiles_are_400_with_the_reason(local: Local) -> None:
    admin = await local.login(*SYSADMIN)
    cases = [
        ({}, "Tenant profile name should be specified!"),
        ({"name": "  "}, "Tenant profile name should be specified!"),
        ({"name": "X", "profileData": {}},
         "Tenant profile data configuration should be specified!"),
        ({"name": "X", "profileData": []}, "Tenant profile data should be specified!"),
        ({"name": "X", "profileData": {"configuration": {
            "transportDeviceTelemetryDataPointsRateLimit": "100:1,"}}},
         "profileData.configuration.transportDeviceTelemetryDataPointsRateLimit: expected "
         "capacity:seconds pairs"),
        ({"name": "X", "profileData": {"configuration": {
            "transportTenantMsgRateLimit": 5}}},
         "profileData.configuration.transportTenantMsgRateLimit: expected a string"),
        ({"name": "X", "default": "yes"}, "default must be true or false"),
    ]
    for body, message in cases:
        response = await admin.post("/api/tenantProfile", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["message"].startswith(message), response.json()
    await admin.post("/api/tenantProfile", json={"name": "Taken"})
    taken = await admin.post("/api/tenantProfile", json={"name": "Taken"})
    assert taken.status_code == 400
    assert taken.json()["message"] == "Tenant profile with such name already exists!"
    missing = await admin.get(f"/api/tenantProfile/{uuid.uuid4()}")
    assert missing.status_code == 404
    unknown = await admin.post("/api/tenant", json={
        "title": "T", "tenantProfileId": {"entityType": "TENANT_PROFILE",
                                          "id": str(uuid.uuid4())}})
    assert unknown.status_code == 404


async def test_only_the_system_administrator(local: Local) -> None:
    for method, path in (("GET", "/api/tenantProfiles?pageSize=10&page=0"),
                         ("GET", "/api/tenantProfileInfo/default"),
                         ("POST", "/api/tenantProfile")):
        response = await local.client.request(method, path, json={"name": "X"})
        assert response.status_code == 403
