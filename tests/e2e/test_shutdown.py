"""SIGTERM with hundreds of long polls and WebSockets open: every poll is answered as expired
(408, empty), every socket closed with 1001, writes in flight still committed, a clean log, and
the process gone within 2 s."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.api_client import Api
from tests.live import LiveServer
from tests.ws.client import ws_url

DEVICES = 30
POLLS_PER_KIND = 100  # rpc, attributes/updates and client-side RPC: 300 device polls
SOCKETS = 20
EXIT_WITHIN_S = 2.0


def open_polls(metrics_text: str) -> dict[str, float]:
    """``thingport_open_long_polls`` by kind, from a /metrics page."""
    found: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("thingport_open_long_polls{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('kind="')[1].split('"')[0]] = float(value)
    return found


async def wait_until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def scenario(live: LiveServer, api: Api) -> dict[str, Any]:
    tokens = [api.create_device()[1] for _ in range(DEVICES)]
    device_id, _ = api.create_device()
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=live.url, timeout=30, limits=limits) as http:
        polls: list[asyncio.Task[httpx.Response]] = []
        for n in range(POLLS_PER_KIND):
            token = tokens[n % DEVICES]
            polls.append(asyncio.create_task(http.get(f"/api/v1/{token}/rpc")))
            polls.append(asyncio.create_task(http.get(f"/api/v1/{token}/attributes/updates")))
            polls.append(asyncio.create_task(http.post(
                f"/api/v1/{token}/rpc", json={"method": "getWeather", "params": {}})))
        # An application's long poll of a device's client-side requests, on the REST API.
        app_poll = asyncio.create_task(http.get(
            f"/api/plugins/rpc/client/{device_id['id']['id']}",
            headers={"X-Authorization": f"Bearer {api.token}"}))
        sockets = [await connect(ws_url(live.url, "/api/ws", api.token), open_timeout=10)
                   for _ in range(SOCKETS)]

        def all_waiting() -> bool:
            page = httpx.get(live.url + "/metrics", timeout=5).text
            counts = open_polls(page)
            return (counts.get("rpc") == counts.get("attributes") == counts.get("client_rpc")
                    == POLLS_PER_KIND and counts.get("client_rpc_requests") == 1
                    and f"thingport_open_websockets {float(SOCKETS)}" in page)

        await wait_until(all_waiting)
        # Writes in flight when the signal comes: each one answered 200 must be kept.
        writes = [asyncio.create_task(http.post(f"/api/v1/{tokens[n]}/telemetry",
                                                json={"seq": n})) for n in range(DEVICES)]
        await asyncio.sleep(0.01)
        assert live.process is not None
        signalled = time.monotonic()
        live.process.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*polls, return_exceptions=True)
        app_answer = await app_poll
        written = await asyncio.gather(*writes, return_exceptions=True)
        closes = []
        for socket in sockets:
            try:
                await asyncio.wait_for(socket.recv(), 5)
            except ConnectionClosed as closed:
                closes.append(closed.rcvd.code if closed.rcvd else None)
        exit_code = await asyncio.to_thread(live.process.wait, 10)
        return {"answers": answers, "app_answer": app_answer, "written": written,
                "closes": closes, "exit_s": time.monotonic() - signalled,
                "exit_code": exit_code, "tokens": tokens}


def test_sigterm_answers_polls_closes_sockets_and_exits_fast(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "data").start()
    try:
        api = Api(live.url).login()
        outcome = asyncio.run(scenario(live, api))
    finally:
        live.stop()

    answers = outcome["answers"]
    assert all(isinstance(a, httpx.Response) for a in answers), answers[:3]
    assert [a.status_code for a in answers] == [408] * len(answers)
    assert all(a.content == b"" for a in answers)
    assert outcome["app_answer"].status_code == 408
    assert outcome["closes"] == [1001] * SOCKETS
    assert outcome["exit_s"] < EXIT_WITHIN_S, outcome["exit_s"]
    # uvicorn re-raises the signal once it has stopped, as a process killed by it would end
    # (systemd counts that as a clean stop).
    assert outcome["exit_code"] in (0, -signal.SIGTERM)
    log = live.log()
    for bad in ("Traceback", "CancelledError", "ERROR", "Exception"):
        assert bad not in log, log

    # What was acknowledged survived the stop.
    acknowledged = [(n, r) for n, r in enumerate(outcome["written"])
                    if isinstance(r, httpx.Response) and r.status_code == 200]
    again = LiveServer(live.data_dir).start()
    try:
        api = Api(again.url).login()
        devices = api.http.get("/api/tenant/devices", params={"pageSize": 100, "page": 0})
        by_token = {api.http.get(f"/api/device/{d['id']['id']}/credentials").json()
                    ["credentialsId"]: d["id"]["id"] for d in devices.json()["data"]}
        for n, _ in acknowledged:
            latest = api.latest(by_token[outcome["tokens"][n]])
            assert latest["seq"][0]["value"] == str(n)
    finally:
        again.stop()
