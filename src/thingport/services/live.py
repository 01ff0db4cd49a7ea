"""What live subscribers (WebSocket sessions) hear: telemetry and attribute changes on the bus.

Unlike the wake-up messages of long polls, these carry the changed values, so that a thousand
subscribers of one device do not each read the store for every sample. The store stays the
truth: a subscriber reads it when it starts and only then applies pushes. Pushes sent while a
network bus is disconnected are lost; a subscriber sees the next ones after it reconnects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from thingport.bus import BUS_STATE, Bus
from thingport.domain.model import (
    AttributeKvEntry,
    AttributeScope,
    DataType,
    KvEntry,
    TelemetryBatch,
    TsKvEntry,
)
from thingport.services.channels import attributes_channel, telemetry_channel


@dataclass(frozen=True, slots=True)
class AttributeUpdate:
    """Attributes of one scope saved (with their new values) or deleted."""

    scope: AttributeScope
    saved: list[AttributeKvEntry] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


async def publish_telemetry(bus: Bus, device_id: UUID, batch: TelemetryBatch) -> None:
    """Announce committed points; costs nothing when nobody can be listening."""
    channel = telemetry_channel(device_id)
    if not bus.may_have_subscribers(channel):
        return
    rows = [[ts, e.key, e.type.value, e.value] for ts, entries in batch for e in entries]
    await bus.publish(channel, orjson.dumps(rows))


def decode_telemetry(payload: bytes) -> list[TsKvEntry]:
    """The points of a ``publish_telemetry`` message."""
    return [TsKvEntry(ts, key, DataType(kind), value)
            for ts, key, kind, value in orjson.loads(payload)]


async def publish_attributes(
    bus: Bus, device_id: UUID, scope: AttributeScope, saved: list[KvEntry], ts: int,
    deleted: list[str] | None = None,
) -> None:
    """Announce committed attribute changes of one scope."""
    channel = attributes_channel(device_id)
    if not bus.may_have_subscribers(channel):
        return
    message: dict[str, Any] = {
        "scope": scope.value,
        "saved": [[e.key, e.type.value, e.value] for e in saved],
        "ts": ts,
        "deleted": deleted or [],
    }
    await bus.publish(channel, orjson.dumps(message))


def decode_attributes(payload: bytes) -> AttributeUpdate:
    """The change announced by ``publish_attributes``."""
    message = orjson.loads(payload)
    ts = message["ts"]
    return AttributeUpdate(
        AttributeScope(message["scope"]),
        [AttributeKvEntry(key, DataType(kind), value, ts) for key, kind, value in message["saved"]],
        list(message["deleted"]),
    )


#: What a watcher receives: the device and either its new points or an attribute change.
LiveEvent = tuple[UUID, list[TsKvEntry] | AttributeUpdate]


class Watch:
    """Changes of some devices, queued from the moment the watch is entered (so a reader that
    reads the store after entering misses nothing)."""

    def __init__(self, bus: Bus, channels: list[str]) -> None:
        self._subscription = bus.subscribe(*channels, announce=True)

    async def __aenter__(self) -> Watch:
        await self._subscription.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._subscription.__aexit__(*exc_info)

    async def next(self) -> LiveEvent:
        """The next change, waiting as long as it takes."""
        while True:
            message = await self._subscription.get()
            assert message is not None  # no timeout: get() returns a message
            channel, payload = message
            # The bus's own news: pushes sent while it was down are lost (see the module doc).
            if channel != BUS_STATE:
                break
        kind, _, device = channel.partition(":")
        if kind == "ts":
            return UUID(device), decode_telemetry(payload)
        return UUID(device), decode_attributes(payload)


class LiveService:
    """Live changes of devices' time series and attributes, from every node."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def watch(
        self, device_ids: list[UUID], *, telemetry: bool = True, attributes: bool = True
    ) -> Watch:
        """An async context manager whose ``next()`` returns the devices' changes."""
        channels = []
        for device_id in device_ids:
            if telemetry:
                channels.append(telemetry_channel(device_id))
            if attributes:
                channels.append(attributes_channel(device_id))
        return Watch(self._bus, channels)
