"""The control socket's answers, in-process and over a real Unix socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from thingport.admin.client import call
from thingport.admin.listener import Listener, run
from thingport.app import bootstrap, build_services
from thingport.errors import ThingportError
from thingport.services import Services
from thingport.settings import Settings


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(data_dir=str(tmp_path), tenant_admin_password="tenant-pass",
                        sysadmin_password="sysadmin-pass")
    built = build_services(settings)
    await built.store.open()
    await bootstrap(built, settings)
    yield built
    await built.store.close()


async def test_a_command_runs_and_answers_its_result(services: Services) -> None:
    token = await run(services, b'{"command": "device.create", "args": {"name": "d1"}}\n')
    listed = await run(services, b'{"command": "device.list"}')
    assert listed == {"result": [["Tenant", "d1", "default", listed["result"][0][3],
                                  token["result"]]]}


@pytest.mark.parametrize(("line", "error"), [
    (b"not json", "bad request: "),
    (b'{"command": "device.drop"}', "bad request: 'device.drop'"),
    (b'{"command": "device.create", "args": []}', "bad request: args must be an object"),
    (b'{"command": "device.create", "args": {"nom": "x"}}', "bad request: "),
])
async def test_a_bad_request_is_answered_not_raised(services: Services, line: bytes,
                                                     error: str) -> None:
    answer = await run(services, line)
    assert answer["kind"] == "BadRequest" and answer["error"].startswith(error)


async def test_a_refused_command_answers_the_services_message(services: Services) -> None:
    await run(services, b'{"command": "device.create", "args": {"name": "d1"}}')
    answer = await run(services, b'{"command": "device.create", "args": {"name": "d1"}}')
    assert answer == {"error": "Device with such name already exists!", "kind": "Conflict"}


async def test_the_socket_is_the_owners_only_and_goes_away(services: Services,
                                                          tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    listener = Listener(services, path)
    assert await listener.start()
    assert (Path(path).stat().st_mode & 0o777) == 0o600
    token = await asyncio.to_thread(call, path, "device.create", {"name": "x"})
    assert await asyncio.to_thread(call, path, "device.token", {"name": "x"}) == token
    with pytest.raises(ThingportError, match="Device with name \\[y\\] is not found"):
        await asyncio.to_thread(call, path, "device.token", {"name": "y"})
    await listener.close()
    assert not Path(path).exists()


async def test_a_path_too_long_for_a_socket_is_skipped(services: Services,
                                                      tmp_path: Path) -> None:
    assert not await Listener(services, str(tmp_path / ("x" * 120))).start()
