"""ThingsBoard's own clients manage and fetch firmware from thingport, unchanged.

``tb-rest-client`` creates a package and uploads its bytes.

``TBHTTPDevice.get_firmware_update()`` reads the ``fw_*`` shared attributes, downloads the
image in ``chunk_size`` pieces (plus one more, which must come back empty), verifies it with
``sdk_utils.verify_checksum``, writes it to a file named after the title in the working
directory, and reports ``fw_state`` telemetry: DOWNLOADING, DOWNLOADED, VERIFIED, UPDATING,
UPDATED.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import mmh3  # noqa: F401  - must be importable before tb_device_http is
import pytest
from tb_device_http import TBHTTPDevice
from tb_rest_client.models.device_profile_id import DeviceProfileId
from tb_rest_client.models.save_ota_package_info_request import SaveOtaPackageInfoRequest
from tb_rest_client.rest_client import RestClient

from tests.api_client import Api
from tests.live import TENANT_ADMIN, LiveServer
from thingport.domain.checksum import checksum
from thingport.domain.model import ChecksumAlgorithm


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK stamps telemetry with the local time read as UTC; make the two agree."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def image_for(algorithm: ChecksumAlgorithm, size: int) -> bytes:
    """Random bytes whose checksum the SDK can check: it drops the leading zero bytes of CRC32
    and MurmurHash3 values (formatting them without padding), so once in 256 images it would
    reject a good one; ThingsBoard's own checksums have the same trait."""
    while True:
        data = os.urandom(size)
        if not checksum(algorithm, data).endswith("00"):
            return data


def test_rest_client_creates_and_uploads_a_package(
    api: Api, server: LiveServer, tmp_path: Path
) -> None:
    created, _ = api.create_device()
    client = RestClient(base_url=server.url)
    client.login(username=TENANT_ADMIN[0], password=TENANT_ADMIN[1])
    try:
        info = client.save_ota_package_info(SaveOtaPackageInfoRequest(
            title=f"rc-{os.urandom(3).hex()}", version="1", type="FIRMWARE", uses_url=False,
            device_profile_id=DeviceProfileId(created["deviceProfileId"]["id"],
                                              "DEVICE_PROFILE")))
        assert info.has_data is False
        image = tmp_path / "image.bin"
        image.write_bytes(os.urandom(5000))
        saved = client.save_ota_package_data(ota_package_id=info.id, checksum_algorithm="MD5",
                                             file=str(image))
        assert saved.has_data is True and saved.data_size == 5000
        assert saved.checksum == checksum(ChecksumAlgorithm.MD5, image.read_bytes())
        assert client.get_ota_package_info_by_id(info.id).title == info.title
    finally:
        client.stop()


@pytest.mark.parametrize(("chunk_size", "algorithm"), [
    (4096, ChecksumAlgorithm.SHA256),
    (0, ChecksumAlgorithm.MURMUR3_128),
])
def test_tb_http_device_downloads_verifies_and_reports_its_firmware(
    api: Api, server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    utc: None, chunk_size: int, algorithm: ChecksumAlgorithm,
) -> None:
    monkeypatch.chdir(tmp_path)
    created, token = api.create_device()
    device_id = created["id"]["id"]
    data = image_for(algorithm, 3 * 4096 + 123)
    title = f"sdk-fw-{os.urandom(3).hex()}"
    package = api.create_ota_package(created["deviceProfileId"]["id"], title, "2.0.1")
    api.upload_ota(package["id"]["id"], data, algorithm.value).raise_for_status()
    api.assign_ota(created, firmware_id=package["id"]["id"])

    device = TBHTTPDevice(server.url, token, chunk_size=chunk_size)
    device.start_publish_worker()
    try:
        device.get_firmware_update()
        # Telemetry goes through the SDK's queue: wait for its last report.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = api.latest(device_id, keys="fw_state").get("fw_state", [{}])[0]
            if state.get("value") in {"UPDATED", "FAILED"}:
                break
            time.sleep(0.2)
    finally:
        device.stop_publish_worker()

    assert (tmp_path / title).read_bytes() == data
    latest = api.latest(device_id, keys="fw_state,current_fw_title,current_fw_version")
    assert latest["fw_state"][0]["value"] == "UPDATED"
    assert latest["current_fw_title"][0]["value"] == title
    assert latest["current_fw_version"][0]["value"] == "2.0.1"
    history = api.latest(device_id, keys="fw_state", startTs=0, endTs=2**41, orderBy="ASC")
    # The SDK queues its one state dict by reference and changes it before its worker has sent
    # it, so some states go out twice and others never (DOWNLOADED is overwritten at once by
    # VERIFIED): check the order, the platform's states, and the end.
    states = [v["value"] for v in history["fw_state"]]
    order = ["QUEUED", "INITIATED", "DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING",
             "UPDATED"]
    ranks = [order.index(state) for state in states]
    assert ranks == sorted(ranks), states
    assert states[:2] == ["QUEUED", "INITIATED"] and states[-1] == "UPDATED", states
