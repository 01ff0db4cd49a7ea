"""``discard_body`` reads at most the bytes it is allowed."""

from __future__ import annotations

from typing import Any

from thingport.http.drain import DrainUnreadBody, discard_body


class Upload:
    """A receive callable serving ``parts`` chunks of ``size`` bytes, counting what was read."""

    def __init__(self, parts: int, size: int) -> None:
        self.left = parts
        self.size = size
        self.read = 0

    async def __call__(self) -> dict[str, Any]:
        self.left -= 1
        self.read += self.size
        return {"type": "http.request", "body": b"x" * self.size, "more_body": self.left > 0}


async def test_a_drain_stops_past_its_bound() -> None:
    upload = Upload(parts=100, size=1000)
    await discard_body(upload, max_bytes=10_000)
    assert 10_000 <= upload.read <= 12_000


async def test_a_drain_reads_a_body_within_its_bound_to_the_end() -> None:
    upload = Upload(parts=10, size=1000)
    await discard_body(upload, max_bytes=1_000_000)
    assert upload.read == 10_000 and upload.left == 0


async def test_the_middleware_drains_what_the_app_left_within_its_bound() -> None:
    async def answers_at_once(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = {"type": "http", "headers": [(b"content-length", b"100000")]}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    upload = Upload(parts=100, size=1000)
    await DrainUnreadBody(answers_at_once, max_bytes=10_000)(scope, upload, send)
    assert 10_000 <= upload.read <= 12_000
    assert sent[0]["status"] == 401
    small = Upload(parts=5, size=1000)
    await DrainUnreadBody(answers_at_once, max_bytes=10_000)(scope, small, send)
    assert small.left == 0
