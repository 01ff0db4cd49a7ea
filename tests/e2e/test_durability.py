"""A 200 is a promise: killing the server with SIGKILL loses nothing it acknowledged."""

from __future__ import annotations

import threading
import time

import httpx

from tests.api_client import Api
from tests.live import LiveServer


def test_sigkill_mid_load_loses_no_acknowledged_write(fresh_server: LiveServer) -> None:
    fresh_server.start()
    api = Api(fresh_server.url).login()
    device, token = api.create_device("durable")
    url = f"{fresh_server.url}/api/v1/{token}/telemetry"
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    next_seq = iter(range(1, 10**9))

    def writer() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                with lock:
                    seq = next(next_seq)
                try:
                    response = client.post(url, json={"ts": seq, "values": {"seq": seq}})
                except httpx.HTTPError:
                    continue  # the server died under this request: no promise was made
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(seq)

    threads = [threading.Thread(target=writer) for _ in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    fresh_server.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) >= 300, "the load did not get going"

    fresh_server.start()
    api = Api(fresh_server.url).login()
    stored = api.http.get(
        f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/timeseries",
        params={"keys": "seq", "startTs": 0, "endTs": 10**9, "limit": 10**6,
                "useStrictDataTypes": "true"},
    ).json()
    kept = {point["value"] for point in stored["seq"]}
    lost = sorted(set(acknowledged) - kept)
    assert not lost, f"{len(lost)} acknowledged writes were lost, e.g. {lost[:10]}"
