"""Large OTA packages: they stream through the server without sitting in its memory, and
``THINGPORT_OTA_MAX_SIZE`` (not the REST body limit) bounds them, counted on the bytes received."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_client import Api
from tests.live import LiveServer

MIB = 1 << 20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """Samples a process's resident memory every few ms, keeping the highest."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mib(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def small_limit_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "data", env={"THINGPORT_OTA_MAX_SIZE": "100000",
                                              "THINGPORT_REST_MAX_PAYLOAD_SIZE": "1000"})
    yield live.start()
    live.stop()


def new_package(api: Api) -> tuple[dict[str, Any], str, str]:
    device, token = api.create_device()
    package = api.create_ota_package(device["deviceProfileId"]["id"],
                                     f"fw-{uuid.uuid4().hex[:6]}")
    return device, token, package["id"]["id"]


def test_the_ota_limit_replaces_the_rest_limit_and_counts_received_bytes(
    small_limit_server: LiveServer,
) -> None:
    api = Api(small_limit_server.url).login()
    _, _, package_id = new_package(api)
    # 90 kB passes although the REST limit is 1000 bytes: it does not apply to uploads.
    assert api.upload_ota(package_id, os.urandom(90_000)).status_code == 200

    _, _, package_id = new_package(api)
    over = api.upload_ota(package_id, os.urandom(100_001))
    assert over.status_code == 413
    # Far over: refused on Content-Length, before the body is read.
    assert api.upload_ota(package_id, os.urandom(2 * MIB)).status_code == 413

    # Chunked, with no Content-Length: refused once the bytes received pass the limit.
    boundary = "thingport-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"fw.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = [head, *[os.urandom(64 * 1024) for _ in range(24)], tail]
    chunked = api.http.post(
        f"/api/otaPackage/{package_id}", params={"checksumAlgorithm": "SHA256"},
        content=iter(body),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert chunked.status_code == 413
    assert api.http.get(f"/api/otaPackage/info/{package_id}").json()["hasData"] is False


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_large_image_streams_through_without_filling_memory(tmp_path: Path) -> None:
    size = 192 * MIB
    image = tmp_path / "image.bin"
    digest = hashlib.sha256()
    with open(image, "wb") as out:
        for _ in range(size // MIB):
            block = os.urandom(MIB)
            digest.update(block)
            out.write(block)

    live = LiveServer(tmp_path / "data").start()
    try:
        assert live.process is not None
        api = Api(live.url).login()
        device, token, package_id = new_package(api)
        # Warm up every code path once, so that the measure sees only what the size costs.
        _, _, warm_id = new_package(api)
        api.upload_ota(warm_id, os.urandom(3 * MIB)).raise_for_status()
        api.http.get(f"/api/otaPackage/{warm_id}/download").raise_for_status()
        baseline = rss_mib(live.process.pid)

        with PeakRss(live.process.pid) as upload_peak, open(image, "rb") as source:
            uploaded = api.upload_ota(package_id, source, "SHA256", digest.hexdigest())
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["dataSize"] == size

        api.assign_ota(device, firmware_id=package_id)
        title = uploaded.json()["title"]
        with PeakRss(live.process.pid) as download_peak:
            for url, params in (
                (f"{live.url}/api/v1/{token}/firmware", {"title": title, "version": "1.0"}),
                (f"{live.url}/api/otaPackage/{package_id}/download", {}),
            ):
                received = hashlib.sha256()
                with httpx.stream("GET", url, params=params, headers=api.http.headers,
                                  timeout=300) as response:
                    assert response.status_code == 200
                    assert response.headers["content-length"] == str(size)
                    for part in response.iter_bytes():
                        received.update(part)
                assert received.hexdigest() == digest.hexdigest()
    finally:
        live.stop()

    # SQLite's page caches (32 MiB for the writer, 16 MiB per reader) are the bulk of what
    # may grow; nothing grows with the image.
    assert upload_peak.peak - baseline < size / MIB / 2, (baseline, upload_peak.peak)
    assert download_peak.peak - baseline < size / MIB / 2, (baseline, download_peak.peak)
