"""OTA packages through the REST API, and ``GET /api/v1/$TOKEN/firmware|software``."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import zlib
from typing import Any

import mmh3
import pytest

from tests.api_client import Api
from tests.waiting import waiting_while

pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
MIB = 1 << 20



def expected_checksum(algorithm: str, data: bytes) -> str:
    """Guava's HashCode.toString(), computed here independently of thingport's code: hex of the
    digest, with CRC32 and MurmurHash3 as little-endian bytes."""
    if algorithm in {"MD5", "SHA256", "SHA384", "SHA512"}:
        return hashlib.new(algorithm.lower(), data).hexdigest()
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "little").hex()
    if algorithm == "MURMUR3_32":
        return mmh3.hash(data, signed=False).to_bytes(4, "little").hex()
    return mmh3.hash128(data, signed=False).to_bytes(16, "little").hex()


@pytest.fixture
def device(api: Api) -> tuple[dict[str, Any], str]:
    """A device of the tenant's default profile, and its token."""
    return api.create_device()


def profile_of(device: dict[str, Any]) -> str:
    return str(device["deviceProfileId"]["id"])


def device_of_new_profile(api: Api) -> tuple[dict[str, Any], str]:
    """A device whose type names a new profile (created with it, as ThingsBoard does)."""
    suffix = os.urandom(4).hex()
    response = api.http.post("/api/device", json={"name": f"d-{suffix}", "type": f"p-{suffix}"})
    response.raise_for_status()
    created = response.json()
    token = api.http.get(f"/api/device/{created['id']['id']}/credentials").json()
    return created, token["credentialsId"]


def shared(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in api.attributes(device["id"]["id"], "SHARED_SCOPE")}


def firmware(api: Api, token: str, kind: str = "firmware", **params: Any) -> Any:
    return api.device_get(token, kind, params=params)


# -- packages and their bytes ---------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["MD5", "SHA256", "SHA384", "SHA512", "CRC32",
                                       "MURMUR3_32", "MURMUR3_128"])
def test_upload_verifies_each_checksum_algorithm(
    api: Api, device: tuple[dict[str, Any], str], algorithm: str
) -> None:
    data = os.urandom(3000)
    checksum = expected_checksum(algorithm, data)
    package = api.create_ota_package(profile_of(device[0]))
    response = api.upload_ota(package["id"]["id"], data, algorithm, checksum.upper())
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["hasData"] is True and info["dataSize"] == 3000
    assert (info["checksumAlgorithm"], info["checksum"]) == (algorithm, checksum)
    assert (info["fileName"], info["contentType"]) == ("firmware.bin", "application/octet-stream")
    # Without a checksum, thingport computes it: lowercase algorithm names are accepted too.
    other = api.create_ota_package(profile_of(device[0]))
    computed = api.upload_ota(other["id"]["id"], data, algorithm.lower()).json()
    assert (computed["checksumAlgorithm"], computed["checksum"]) == (algorithm, checksum)


def test_a_wrong_checksum_stores_nothing(api: Api, device: tuple[dict[str, Any], str]) -> None:
    package_id = api.create_ota_package(profile_of(device[0]))["id"]["id"]
    data = os.urandom(MIB + 10)
    response = api.upload_ota(package_id, data, "SHA256", "00" * 32)
    assert response.status_code == 400
    assert response.json()["message"] == "Wrong otaPackage file!"
    info = api.http.get(f"/api/otaPackage/info/{package_id}").json()
    assert info["hasData"] is False and info["checksum"] is None and info["dataSize"] is None
    assert api.http.get(f"/api/otaPackage/{package_id}/download").status_code == 404
    # The package is untouched, so the right bytes can still be uploaded.
    assert api.upload_ota(package_id, data, "SHA256",
                          hashlib.sha256(data).hexdigest()).status_code == 200


def test_download_streams_the_bytes_with_their_name_and_type(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    package_id = api.create_ota_package(profile_of(device[0]))["id"]["id"]
    data = os.urandom(2 * MIB + 12345)
    api.upload_ota(package_id, data, file_name="image v2.bin",
                   content_type="application/x-firmware").raise_for_status()
    response = api.http.get(f"/api/otaPackage/{package_id}/download")
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["content-disposition"] == "attachment;filename=image v2.bin"
    assert response.headers["x-filename"] == "image v2.bin"
    assert response.headers["content-type"] == "application/x-firmware"


def test_upload_refusals(api: Api, device: tuple[dict[str, Any], str]) -> None:
    profile_id = profile_of(device[0])
    package_id = api.create_ota_package(profile_id)["id"]["id"]
    path = f"/api/otaPackage/{package_id}"
    no_algorithm = api.http.post(path, files={"file": ("a.bin", b"x")})
    assert no_algorithm.status_code == 400 and "checksumAlgorithm" in no_algorithm.text
    assert api.upload_ota(package_id, b"x", "SHA1").status_code == 400
    no_file = api.http.post(path, params={"checksumAlgorithm": "MD5"}, data={"other": "1"})
    assert no_file.status_code == 400 and "'file'" in no_file.json()["message"]
    assert api.upload_ota(package_id, b"").status_code == 400
    # Parameters may also come as form fields, as Spring reads them.
    as_fields = api.http.post(path, data={"checksumAlgorithm": "CRC32"},
                              files={"file": ("a.bin", b"abc")})
    assert as_fields.status_code == 200 and as_fields.json()["checksumAlgorithm"] == "CRC32"
    # Bytes are uploaded once, and never to a URL package or an unknown one.
    again = api.upload_ota(package_id, b"other")
    assert again.status_code == 400 and "prohibited" in again.json()["message"]
    url = api.create_ota_package(profile_id, url="https://example.com/fw.bin")
    assert api.upload_ota(url["id"]["id"], b"abc").status_code == 400
    assert api.upload_ota("00000000-0000-0000-0000-000000000001", b"abc").status_code == 404


def test_info_get_and_validation(api: Api, device: tuple[dict[str, Any], str]) -> None:
    profile_id = profile_of(device[0])
    package = api.create_ota_package(profile_id, "My FW", "2.0", tag="beta",
                                     additionalInfo={"description": "first"})
    assert package["id"]["entityType"] == "OTA_PACKAGE"
    assert package["deviceProfileId"] == {"entityType": "DEVICE_PROFILE", "id": profile_id}
    assert (package["title"], package["version"], package["tag"], package["type"]) == (
        "My FW", "2.0", "beta", "FIRMWARE")
    assert package["hasData"] is False and package["url"] is None
    assert package["tenantId"]["entityType"] == "TENANT" and package["createdTime"] > 0
    package_id = package["id"]["id"]
    assert api.http.get(f"/api/otaPackage/{package_id}").json() == package
    assert api.http.get(f"/api/otaPackage/info/{package_id}").json() == package

    # Only additionalInfo may change.
    changed = api.http.post("/api/otaPackage", json={**package, "additionalInfo": {"x": 1}})
    assert changed.status_code == 200 and changed.json()["additionalInfo"] == {"x": 1}
    retitled = api.http.post("/api/otaPackage", json={**package, "title": "Other"})
    assert retitled.status_code == 400 and "title is prohibited" in retitled.text

    duplicate = api.http.post("/api/otaPackage", json={
        "title": "My FW", "version": "2.0", "type": "FIRMWARE",
        "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": profile_id}})
    assert duplicate.status_code == 400
    assert duplicate.json()["message"] == "OtaPackage with such title and version already exists!"
    # The same title and version of the other type is another package.
    api.create_ota_package(profile_id, "My FW", "2.0", type="SOFTWARE")

    cases: list[tuple[dict[str, Any], str]] = [
        ({"version": "1", "type": "FIRMWARE"}, "title should be specified"),
        ({"title": "t", "type": "FIRMWARE"}, "version should be specified"),
        ({"title": "t", "version": "1"}, "Type should be specified"),
        ({"title": "t", "version": "1", "type": "BOOTLOADER"}, "Invalid OTA package type"),
    ]
    for body, message in cases:
        body["deviceProfileId"] = {"entityType": "DEVICE_PROFILE", "id": profile_id}
        response = api.http.post("/api/otaPackage", json=body)
        assert response.status_code == 400 and message in response.json()["message"], body
    no_profile = api.http.post("/api/otaPackage",
                               json={"title": "t", "version": "1", "type": "FIRMWARE"})
    assert no_profile.status_code == 400
    assert api.http.get("/api/otaPackage/info/00000000-0000-0000-0000-000000000001"
                        ).status_code == 404


def test_paging_search_and_the_profile_listing(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    profile_id = profile_of(device[0])
    marker = os.urandom(4).hex()
    titles = [f"{marker}-a", f"{marker}-b", f"{marker}-c"]
    made = [api.create_ota_package(profile_id, title) for title in titles]
    api.upload_ota(made[0]["id"]["id"], b"bytes").raise_for_status()
    software = api.create_ota_package(profile_id, f"{marker}-sw", type="SOFTWARE",
                                      url="https://example.com/sw.bin")

    page = api.http.get("/api/otaPackages", params={
        "pageSize": 2, "page": 0, "textSearch": marker, "sortProperty": "title",
        "sortOrder": "DESC"}).json()
    assert page["totalElements"] == 4 and page["totalPages"] == 2 and page["hasNext"] is True
    assert [p["title"] for p in page["data"]] == [f"{marker}-sw", f"{marker}-c"]
    last = api.http.get("/api/otaPackages", params={
        "pageSize": 2, "page": 1, "textSearch": marker, "sortProperty": "title",
        "sortOrder": "DESC"}).json()
    assert [p["title"] for p in last["data"]] == [f"{marker}-b", f"{marker}-a"]
    assert last["hasNext"] is False
    assert api.http.get("/api/otaPackages", params={"pageSize": 2}).status_code == 400

    # A profile's listing offers what can be assigned: with bytes or a URL.
    firmware = api.http.get(f"/api/otaPackages/{profile_id}/FIRMWARE", params={
        "pageSize": 100, "page": 0, "textSearch": marker}).json()
    assert [p["id"] for p in firmware["data"]] == [made[0]["id"]]
    software_page = api.http.get(f"/api/otaPackages/{profile_id}/SOFTWARE", params={
        "pageSize": 100, "page": 0, "textSearch": marker}).json()
    assert [p["id"] for p in software_page["data"]] == [software["id"]]
    assert api.http.get(f"/api/otaPackages/{profile_id}/OTHER",
                        params={"pageSize": 1, "page": 0}).status_code == 400
    assert api.http.get("/api/otaPackages/00000000-0000-0000-0000-000000000001/FIRMWARE",
                        params={"pageSize": 1, "page": 0}).status_code == 404


def test_customer_users_cannot_read_or_manage_packages(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    package_id = api.create_ota_package(profile_of(device[0]))["id"]["id"]
    _, customer = api.create_customer_user()
    for call in (customer.http.get(f"/api/otaPackage/info/{package_id}"),
                 customer.http.delete(f"/api/otaPackage/{package_id}")):
        assert call.status_code == 403
    assert api.http.get(f"/api/otaPackage/info/{package_id}").status_code == 200


def test_delete_is_refused_while_a_device_has_the_package(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    created, _ = device
    package_id = api.create_ota_package(profile_of(created))["id"]["id"]
    api.upload_ota(package_id, b"firmware").raise_for_status()
    assigned = api.assign_ota(created, firmware_id=package_id)
    assert assigned["firmwareId"] == {"entityType": "OTA_PACKAGE", "id": package_id}
    refused = api.http.delete(f"/api/otaPackage/{package_id}")
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "The otaPackage referenced by the devices cannot be deleted!")
    api.assign_ota(assigned, firmware_id=None)
    assert api.http.delete(f"/api/otaPackage/{package_id}").status_code == 200
    assert api.http.get(f"/api/otaPackage/info/{package_id}").status_code == 404
    assert api.http.get(f"/api/otaPackage/{package_id}/download").status_code == 404


# -- assignment ----------------------------------------------------------------------------------
def test_assignment_sets_shared_attributes_that_reach_an_open_poll(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    created, token = device
    data = os.urandom(5000)
    package = api.create_ota_package(profile_of(created), "Thermo FW", "1.2.3", tag="stable")
    package_id = package["id"]["id"]
    api.upload_ota(package_id, data, "MD5").raise_for_status()

    poll = waiting_while(api.base_url, "attributes", lambda: pool.submit(
        api.device_get, token, "attributes/updates", params={"timeout": 10000}),
        **api.client_options)
    assigned = api.assign_ota(created, firmware_id=package_id)
    response = poll.result(10)
    expected = {
        "fw_title": "Thermo FW", "fw_version": "1.2.3", "fw_tag": "stable", "fw_size": 5000,
        "fw_checksum": hashlib.md5(data).hexdigest(), "fw_checksum_algorithm": "MD5",
    }
    assert response.status_code == 200 and response.json() == expected
    assert shared(api, created) == expected

    # The platform's own telemetry, as ThingsBoard writes it.
    latest = api.latest(created["id"]["id"], useStrictDataTypes="true")
    assert latest["target_fw_title"][0]["value"] == "Thermo FW"
    assert latest["target_fw_version"][0]["value"] == "1.2.3"
    assert latest["target_fw_tag"][0]["value"] == "stable"
    assert isinstance(latest["target_fw_ts"][0]["value"], int)
    assert latest["fw_state"][0]["value"] == "INITIATED"
    history = api.latest(created["id"]["id"], keys="fw_state", startTs=0,
                         endTs=2**41, orderBy="ASC")
    assert [v["value"] for v in history["fw_state"]] == ["QUEUED", "INITIATED"]

    # Saving the device again with the same package tells it nothing new.
    api.assign_ota(assigned, firmware_id=package_id)
    assert api.device_get(token, "attributes/updates",
                          params={"timeout": 300}).status_code == 408

    poll = waiting_while(api.base_url, "attributes", lambda: pool.submit(
        api.device_get, token, "attributes/updates", params={"timeout": 10000}),
        **api.client_options)
    api.assign_ota(assigned, firmware_id=None)
    removed = poll.result(10)
    assert removed.status_code == 200
    assert sorted(removed.json()["deleted"]) == sorted(expected)
    assert shared(api, created) == {}


def test_a_url_package_sets_fw_url_and_is_not_served(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    created, token = device
    package = api.create_ota_package(profile_of(created), "Remote", "9",
                                     url="https://example.com/fw-9.bin")
    assert package["url"] == "https://example.com/fw-9.bin" and package["hasData"] is False
    api.assign_ota(created, firmware_id=package["id"]["id"])
    assert shared(api, created) == {"fw_title": "Remote", "fw_version": "9",
                                    "fw_url": "https://example.com/fw-9.bin"}
    response = firmware(api, token, title="Remote", version="9")
    assert response.status_code == 404 and response.content == b""
    assert api.http.get(f"/api/otaPackage/{package['id']['id']}/download").status_code == 400


def test_assignment_is_validated(api: Api, device: tuple[dict[str, Any], str]) -> None:
    created, _ = device
    profile_id = profile_of(created)
    empty = api.create_ota_package(profile_id)["id"]["id"]
    software = api.create_ota_package(profile_id, type="SOFTWARE")["id"]["id"]
    api.upload_ota(software, b"sw").raise_for_status()
    other_profile, _ = device_of_new_profile(api)
    foreign = api.create_ota_package(profile_of(other_profile))["id"]["id"]
    api.upload_ota(foreign, b"fw").raise_for_status()
    for body, message in [
        ({"firmwareId": {"entityType": "OTA_PACKAGE", "id": empty}},
         "Can't assign firmware with empty data!"),
        ({"firmwareId": {"entityType": "OTA_PACKAGE", "id": software}},
         "Can't assign firmware with type: SOFTWARE"),
        ({"firmwareId": {"entityType": "OTA_PACKAGE", "id": foreign}},
         "Can't assign firmware with different deviceProfile!"),
        ({"softwareId": {"entityType": "OTA_PACKAGE",
                         "id": "00000000-0000-0000-0000-000000000001"}},
         "Can't assign non-existent software!"),
    ]:
        response = api.http.post("/api/device", json={**created, **body})
        assert response.status_code == 400 and response.json()["message"] == message
    # A new device may come with its package.
    name = f"born-with-fw-{os.urandom(3).hex()}"
    response = api.http.post("/api/device", json={
        "name": name, "deviceProfileId": created["deviceProfileId"],
        "softwareId": {"entityType": "OTA_PACKAGE", "id": software}})
    assert response.status_code == 200
    assert shared(api, response.json())["sw_size"] == 2


# -- the device's download ------------------------------------------------------------------------
def test_chunks_as_thingsboard_cuts_them(api: Api, device: tuple[dict[str, Any], str]) -> None:
    created, token = device
    data = os.urandom(MIB + 1000)
    package = api.create_ota_package(profile_of(created), "Chunky", "1")
    api.upload_ota(package["id"]["id"], data, file_name="chunky.bin",
                   content_type="application/x-chunky").raise_for_status()
    api.assign_ota(created, firmware_id=package["id"]["id"])

    def get(size: int | str, chunk: int | str) -> Any:
        return firmware(api, token, title="Chunky", version="1", size=size, chunk=chunk)

    whole = get(0, 0)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-disposition"] == "attachment;filename=chunky.bin"
    assert whole.headers["x-filename"] == "chunky.bin"
    assert whole.headers["content-type"] == "application/x-chunky"
    assert whole.headers["content-length"] == str(len(data))
    assert get(-5, 3).content == data  # size <= 0: the whole file, whatever the chunk
    assert firmware(api, token, title="Chunky", version="1").content == data  # defaults
    assert get(1000, 0).content == data[:1000]
    assert get(1000, 1048).content == data[1048000:1049000]  # across the store's 1 MiB chunks
    last = get(1000, 1049)  # the last, partial chunk
    assert last.status_code == 200 and last.content == data[1049000:]
    assert len(last.content) == len(data) - 1049000
    past = get(1000, 1050)
    assert past.status_code == 200 and past.content == b""
    assert past.headers["content-length"] == "0"
    assert get(MIB, 1).content == data[MIB:]
    assert get(len(data) * 2, 0).content == data

    negative = get(1000, -1)
    assert negative.status_code == 400
    assert get("ten", 0).status_code == 400


def test_title_version_mismatch_and_missing_parameters(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    created, token = device
    package = api.create_ota_package(profile_of(created), "Exact", "1.0")
    api.upload_ota(package["id"]["id"], b"0123456789").raise_for_status()
    api.assign_ota(created, firmware_id=package["id"]["id"])
    for params in ({"title": "Exact", "version": "1.1"}, {"title": "exact", "version": "1.0"}):
        response = firmware(api, token, **params)
        assert response.status_code == 400 and response.content == b""
    for params in ({"title": "Exact"}, {"version": "1.0"}):
        assert firmware(api, token, **params).status_code == 400
    # Software is another assignment: none here.
    software = firmware(api, token, "software", title="Exact", version="1.0")
    assert software.status_code == 404 and software.content == b""
    assert firmware(api, "no-such-token", title="Exact", version="1.0").status_code == 401
    assert api.device_post(token, "firmware", {}).status_code == 405


def test_nothing_assigned_is_404_with_no_body(
    api: Api, device: tuple[dict[str, Any], str]
) -> None:
    _, token = device
    for kind in ("firmware", "software"):
        response = firmware(api, token, kind, title="x", version="1")
        assert response.status_code == 404 and response.content == b""


def test_software_is_served_from_the_devices_own_package(api: Api) -> None:
    """Profile assignments (and the device's own winning over them) are covered at the
    service level (tests/unit/test_ota_service.py): the REST API for profiles is elsewhere."""
    created, token = device_of_new_profile(api)
    package = api.create_ota_package(profile_of(created), "Own", "3", type="SOFTWARE")
    api.upload_ota(package["id"]["id"], b"software!").raise_for_status()
    api.assign_ota(created, software_id=package["id"]["id"])
    response = firmware(api, token, "software", title="Own", version="3", size=4, chunk=1)
    assert response.status_code == 200 and response.content == b"ware"
    assert {k for k in shared(api, created) if k.startswith("sw_")} == {
        "sw_title", "sw_version", "sw_size", "sw_checksum", "sw_checksum_algorithm"}
    assert not any(key.startswith("fw_") for key in shared(api, created))


def test_a_profile_assignment_reaches_its_devices_without_their_own(api: Api) -> None:
    device, token = device_of_new_profile(api)
    profile_id = profile_of(device)
    package = api.create_ota_package(profile_id, title="profile-fw", version="2.0")
    image = os.urandom(3000)
    assert api.upload_ota(package["id"]["id"], image).status_code == 200
    poll = concurrent.futures.ThreadPoolExecutor(1).submit(
        api.device_get, token, "attributes/updates", params={"timeout": 10000})
    profile = api.http.get(f"/api/deviceProfile/{profile_id}").json()
    profile["firmwareId"] = {"entityType": "OTA_PACKAGE", "id": package["id"]["id"]}
    saved = api.http.post("/api/deviceProfile", json=profile)
    assert saved.status_code == 200, saved.text
    assert saved.json()["firmwareId"]["id"] == package["id"]["id"]
    update = poll.result(15)
    assert update.status_code == 200
    assert update.json()["fw_title"] == "profile-fw" and update.json()["fw_version"] == "2.0"
    got = firmware(api, token, title="profile-fw", version="2.0")
    assert got.status_code == 200 and got.content == image
    # Taking it off the profile takes the attributes away.
    profile["firmwareId"] = None
    assert api.http.post("/api/deviceProfile", json=profile).status_code == 200
    assert "fw_title" not in shared(api, device)
    assert firmware(api, token, title="profile-fw", version="2.0").status_code == 404
