"""Device profiles through the REST API, in ThingsBoard's shapes, against an in-process app
(and ThingsBoard's own REST client against a live server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tb_rest_client.models.device_profile import DeviceProfile
from tb_rest_client.models.device_profile_data import DeviceProfileData
from tb_rest_client.models.device_profile_provision_configuration import (
    DeviceProfileProvisionConfiguration,
)
from tb_rest_client.rest_client import RestClient

from tests.api_client import Api, other_tenant_admin
from tests.live import TENANT_ADMIN, LiveServer


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def profile_body(name: str, provision_type: str = "DISABLED", key: str | None = None,
                 secret: str | None = None, **extra: Any) -> dict[str, Any]:
    """A DeviceProfile as ThingsBoard's UI posts it."""
    return {
        "name": name, "type": "DEFAULT", "transportType": "DEFAULT",
        "provisionType": provision_type, "provisionDeviceKey": key,
        "profileData": {
            "configuration": {"type": "DEFAULT"},
            "transportConfiguration": {"type": "DEFAULT"},
            "provisionConfiguration": {"type": provision_type, "provisionDeviceSecret": secret},
        },
        **extra,
    }


def create_profile(api: Api, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    response = api.http.post("/api/deviceProfile", json=profile_body(name or unique("p"), **kwargs))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_read_and_update_a_provisioning_profile(api: Api) -> None:
    key, secret = unique("key"), unique("secret")
    created = create_profile(api, "thermostats-" + key, provision_type="ALLOW_CREATE_NEW_DEVICES",
                             key=key, secret=secret, description="Living room")
    assert created["id"]["entityType"] == "DEVICE_PROFILE"
    assert created["provisionType"] == "ALLOW_CREATE_NEW_DEVICES"
    assert created["provisionDeviceKey"] == key
    assert created["profileData"]["provisionConfiguration"] == {
        "type": "ALLOW_CREATE_NEW_DEVICES", "provisionDeviceSecret": secret}
    assert created["default"] is False and created["description"] == "Living room"
    assert created["tenantId"]["entityType"] == "TENANT"
    profile_id = created["id"]["id"]
    assert api.http.get(f"/api/deviceProfile/{profile_id}").json() == created

    # An update: the strategy changes, and provisionConfiguration.type follows provisionType.
    changed = dict(created, provisionType="CHECK_PRE_PROVISIONED_DEVICES")
    updated = api.http.post("/api/deviceProfile", json=changed)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["id"] == created["id"] and body["createdTime"] == created["createdTime"]
    assert body["profileData"]["provisionConfiguration"] == {
        "type": "CHECK_PRE_PROVISIONED_DEVICES", "provisionDeviceSecret": secret}

    # Without a top-level provisionType, provisionConfiguration.type decides.
    disabled = dict(body, provisionType=None, provisionDeviceKey=None, profileData={
        "provisionConfiguration": {"type": "DISABLED", "provisionDeviceSecret": None}})
    body = api.http.post("/api/deviceProfile", json=disabled).json()
    assert body["provisionType"] == "DISABLED" and body["provisionDeviceKey"] is None
    assert body["profileData"]["configuration"] == {"type": "DEFAULT"}

    info = api.http.get(f"/api/deviceProfileInfo/{profile_id}").json()
    assert info["id"] == created["id"] and info["name"] == created["name"]
    assert "profileData" not in info


@pytest.mark.parametrize(("changes", "message"), [
    ({"provisionType": "ALLOW_CREATE_NEW_DEVICES", "provisionDeviceKey": None},
     "Provision device key should be specified!"),
    ({"provisionType": "CHECK_PRE_PROVISIONED_DEVICES", "provisionDeviceKey": "k-no-secret"},
     "Provision device secret should be specified!"),
    ({"provisionType": "X509_CERTIFICATE_CHAIN"}, "provision type"),
    ({"provisionType": "SOMETIMES"}, "provision type"),
    ({"name": ""}, "Device profile name should be specified!"),
    ({"transportType": "CARRIER_PIGEON"}, "transport type"),
    ({"profileData": [1]}, "profileData"),
])
def test_invalid_profiles_are_400(api: Api, changes: dict[str, Any], message: str) -> None:
    body = {**profile_body(unique("bad")), **changes}
    if changes.get("provisionType") and "profileData" not in changes:
        body["profileData"]["provisionConfiguration"]["provisionDeviceSecret"] = None
    response = api.http.post("/api/deviceProfile", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert response.json()["errorCode"] == 31


def test_names_and_provision_keys_are_unique_across_tenants(api: Api) -> None:
    key = unique("shared-key")
    first = create_profile(api, provision_type="ALLOW_CREATE_NEW_DEVICES", key=key, secret="s1")
    again = api.http.post("/api/deviceProfile", json=profile_body(first["name"]))
    assert again.status_code == 400
    assert again.json()["message"] == "Device profile with such name already exists!"

    other_tenant = other_tenant_admin(api)
    clash = other_tenant.http.post("/api/deviceProfile", json=profile_body(
        unique("p"), "ALLOW_CREATE_NEW_DEVICES", key, "s2"))
    assert clash.status_code == 400
    assert clash.json()["message"] == \
        "Device profile with such provision device key already exists!"
    # The same name is fine in another tenant, and the profile is invisible from there.
    assert other_tenant.http.post("/api/deviceProfile",
                                  json=profile_body(first["name"])).status_code == 200
    assert other_tenant.http.get(f"/api/deviceProfile/{first['id']['id']}").status_code == 404


def test_pages_search_and_sort(api: Api) -> None:
    prefix = unique("page")
    for suffix in ("b", "a", "c"):
        create_profile(api, f"{prefix}-{suffix}")
    page = api.http.get("/api/deviceProfiles", params={
        "pageSize": 2, "page": 0, "textSearch": prefix.upper(), "sortProperty": "name",
        "sortOrder": "DESC"}).json()
    assert [p["name"] for p in page["data"]] == [f"{prefix}-c", f"{prefix}-b"]
    assert page["totalElements"] == 3 and page["totalPages"] == 2 and page["hasNext"]
    infos = api.http.get("/api/deviceProfileInfos", params={
        "pageSize": 10, "page": 0, "textSearch": prefix, "sortProperty": "name"}).json()
    assert [p["name"] for p in infos["data"]] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    assert not infos["hasNext"] and "profileData" not in infos["data"][0]
    everything = api.http.get("/api/deviceProfiles", params={"pageSize": 100, "page": 0}).json()
    assert any(p["default"] for p in everything["data"])
    assert api.http.get("/api/deviceProfiles").status_code == 400  # pageSize and page required
    assert api.http.get("/api/deviceProfiles", params={
        "pageSize": 1, "page": 0, "sortProperty": "colour"}).status_code == 400


def test_default_profile_moves_and_cannot_be_deleted(api: Api) -> None:
    # A tenant of its own: the default profile is tenant-wide state.
    api = other_tenant_admin(api)
    default = api.http.get("/api/deviceProfileInfo/default").json()
    assert default["name"] == "default"
    refused = api.http.delete(f"/api/deviceProfile/{default['id']['id']}")
    assert refused.status_code == 400
    assert refused.json()["message"] == "Deletion of Default Device Profile is prohibited!"
    # Only POST .../default moves the default; posting "default": true is refused.
    second = create_profile(api)
    assert api.http.post("/api/deviceProfile", json=dict(second, default=True)).status_code == 400
    moved = api.http.post(f"/api/deviceProfile/{second['id']['id']}/default")
    assert moved.status_code == 200 and moved.json()["default"] is True
    assert api.http.get("/api/deviceProfileInfo/default").json()["id"] == second["id"]
    old = api.http.get(f"/api/deviceProfile/{default['id']['id']}").json()
    assert old["default"] is False
    # Saving the default profile with "default": false keeps it the default.
    assert api.http.post("/api/deviceProfile",
                         json=dict(moved.json(), default=False)).json()["default"] is True
    # A device with no type now lands in the new default profile.
    device = api.http.post("/api/device", json={"name": unique("d")}).json()
    assert device["deviceProfileId"] == second["id"] and device["type"] == second["name"]
    assert api.http.delete(f"/api/deviceProfile/{default['id']['id']}").status_code == 200


def test_a_profile_devices_use_cannot_be_deleted(api: Api) -> None:
    profile = create_profile(api)
    device = api.http.post("/api/device", json={
        "name": unique("d"), "deviceProfileId": profile["id"]}).json()
    assert device["type"] == profile["name"]
    refused = api.http.delete(f"/api/deviceProfile/{profile['id']['id']}")
    assert refused.status_code == 400
    assert refused.json()["message"] == \
        "The device profile referenced by the devices cannot be deleted!"
    assert api.http.delete(f"/api/device/{device['id']['id']}").status_code == 200
    assert api.http.delete(f"/api/deviceProfile/{profile['id']['id']}").status_code == 200
    assert api.http.get(f"/api/deviceProfile/{profile['id']['id']}").status_code == 404
    assert api.http.delete(f"/api/deviceProfile/{profile['id']['id']}").status_code == 404
    assert api.http.get("/api/deviceProfile/not-a-uuid").status_code == 400


def test_renaming_a_profile_renames_its_devices_type(api: Api) -> None:
    profile = create_profile(api)
    device = api.http.post("/api/device", json={
        "name": unique("d"), "deviceProfileId": profile["id"]}).json()
    renamed = api.http.post("/api/deviceProfile", json=dict(profile, name=unique("renamed")))
    assert renamed.status_code == 200
    assert api.http.get(f"/api/device/{device['id']['id']}").json()["type"] == \
        renamed.json()["name"]


def test_customer_users_read_infos_only(api: Api) -> None:
    profile = create_profile(api, provision_type="ALLOW_CREATE_NEW_DEVICES",
                             key=unique("key"), secret="not-for-customers")
    _, user = api.create_customer_user()
    assert user.http.get(f"/api/deviceProfileInfo/{profile['id']['id']}").status_code == 200
    assert user.http.get("/api/deviceProfileInfo/default").status_code == 200
    assert user.http.get("/api/deviceProfileInfos",
                         params={"pageSize": 10, "page": 0}).status_code == 200
    assert user.http.get(f"/api/deviceProfile/{profile['id']['id']}").status_code == 403
    assert user.http.get("/api/deviceProfiles",
                         params={"pageSize": 10, "page": 0}).status_code == 403
    assert user.http.post("/api/deviceProfile", json=profile_body(unique("p"))).status_code == 403


@pytest.fixture
def rest(server: LiveServer) -> Iterator[RestClient]:
    """ThingsBoard's RestClient on the live server: it makes its own connections (urllib3)."""
    client = RestClient(base_url=server.url)
    client.login(username=TENANT_ADMIN[0], password=TENANT_ADMIN[1])
    yield client
    client.stop()


def test_thingsboard_rest_client_manages_profiles(rest: RestClient) -> None:
    key = unique("sdk-key")
    config = DeviceProfileProvisionConfiguration(type="ALLOW_CREATE_NEW_DEVICES",
                                                 provision_device_secret="sdk-secret")
    saved = rest.save_device_profile(DeviceProfile(
        name=unique("sdk"), type="DEFAULT", transport_type="DEFAULT",
        provision_type="ALLOW_CREATE_NEW_DEVICES", provision_device_key=key,
        profile_data=DeviceProfileData(provision_configuration=config)))
    assert saved.provision_device_key == key
    assert saved.profile_data.provision_configuration.provision_device_secret == "sdk-secret"
    fetched = rest.get_device_profile_by_id(saved.id)
    assert fetched.name == saved.name and fetched.provision_type == "ALLOW_CREATE_NEW_DEVICES"
    assert rest.get_device_profile_info_by_id(saved.id).name == saved.name
    page = rest.get_device_profiles(page_size=10, page=0, text_search=saved.name)
    assert [p.name for p in page.data] == [saved.name]
    infos = rest.get_device_profile_infos(page_size=10, page=0, text_search=saved.name)
    assert [p.id.id for p in infos.data] == [saved.id.id]
    assert rest.get_default_device_profile_info().name
    rest.delete_device_profile(saved.id)
    assert rest.get_device_profiles(page_size=10, page=0, text_search=saved.name).data == []


