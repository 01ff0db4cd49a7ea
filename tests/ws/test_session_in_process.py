"""Session rules that need a short clock: tested in-process with Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.live import TENANT_ADMIN
from thingport.api.ws import session
from thingport.app import create_app
from thingport.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=str(tmp_path), tenant_admin_password=TENANT_ADMIN[1],
                        sysadmin_password="sysadmin-pass")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def login(client: TestClient) -> str:
    response = client.post("/api/auth/login",
                           json={"username": TENANT_ADMIN[0], "password": TENANT_ADMIN[1]})
    token: str = response.json()["token"]
    return token


def test_no_auth_cmd_within_the_timeout_closes_with_1008(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "AUTH_TIMEOUT_S", 0.2)
    with client.websocket_connect("/api/ws") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "Auth timeout")


def test_too_many_subscriptions_close_the_session(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "MAX_SUBSCRIPTIONS", 2)
    token = login(client)
    device = client.post("/api/device", json={"name": "d"},
                         headers={"X-Authorization": f"Bearer {token}"}).json()
    subscriptions = [{"entityType": "DEVICE", "entityId": device["id"]["id"], "cmdId": c}
                     for c in range(3)]
    with client.websocket_connect(f"/api/ws/plugins/telemetry?token={token}") as ws:
        ws.send_json({"tsSubCmds": subscriptions})
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
    assert closed.value.code == 1008
