"""Load for the kill -9 tests: writer threads post numbered samples to one device until stopped,
and what was acknowledged is then looked for in the store."""

from __future__ import annotations

import itertools
import threading
from types import TracebackType

import httpx

from tests.api_client import Api


class NumberedWrites:
    """``threads`` writers posting ``{"ts": n, "values": {"seq": n}}`` to ``url`` (a device's
    telemetry) while the block runs; ``acknowledged`` holds every n answered 200. A request
    that fails (the server died under it) made no promise and is not counted.
    ``new_connection_each``: one connection per request, so that the load reaches every worker
    process rather than the one a kept-alive connection landed on."""

    def __init__(self, url: str, threads: int, *, new_connection_each: bool = False) -> None:
        self.url = url
        self.new_connection_each = new_connection_each
        self.acknowledged: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._numbers = itertools.count(1)
        self._threads = [threading.Thread(target=self._write) for _ in range(threads)]

    def __len__(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def __enter__(self) -> NumberedWrites:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _write(self) -> None:
        # "Connection: close" makes the next request open a new connection, from the same
        # client: a new client per request would make an SSL context each time, tens of ms of
        # CPU that starved the load on a busy machine.
        headers = {"Connection": "close"} if self.new_connection_each else {}
        with httpx.Client(timeout=5, headers=headers) as client:
            while not self._stop.is_set():
                with self._lock:
                    seq = next(self._numbers)
                try:
                    response = client.post(self.url, json={"ts": seq, "values": {"seq": seq}})
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    with self._lock:
                        self.acknowledged.append(seq)

    def lost(self, api: Api, device_id: str) -> list[int]:
        """The acknowledged numbers that ``api`` cannot find in the device's history."""
        stored = api.http.get(
            f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
            params={"keys": "seq", "startTs": 0, "endTs": 10**9, "limit": 10**6,
                    "useStrictDataTypes": "true"},
        ).json()
        kept = {point["value"] for point in stored.get("seq", [])}
        return sorted(set(self.acknowledged) - kept)
