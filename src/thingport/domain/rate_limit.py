"""ThingsBoard's rate-limit syntax, and the transport limits of a tenant profile.

``"100:1,3000:60"`` means at most 100 per second and at most 3000 per 60 seconds: comma-separated
``capacity:seconds`` pairs, both positive whole numbers, each pair a limit of its own that must
hold at once with the others. An empty or absent text is no limit.

A tenant profile's ``profileData.configuration`` names six of them (ThingsBoard's field names):
per tenant and per device, the messages that carry no data points (attribute reads, polls, RPC,
claims, firmware), the messages that do (telemetry, and attribute uploads with entries, as
ThingsBoard counts them) and the data points those carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

#: Nobody means more than this many per period, or periods over a year: beyond it is a typo.
MAX_CAPACITY: Final = 10**12
MAX_PERIOD_S: Final = 366 * 86400

_PAIR: Final = re.compile(r"([0-9]+):([0-9]+)")

#: The configuration fields, in the order of ``TransportLimits``' fields.
TENANT_MSG = "transportTenantMsgRateLimit"
TENANT_TELEMETRY_MSG = "transportTenantTelemetryMsgRateLimit"
TENANT_TELEMETRY_DATA_POINTS = "transportTenantTelemetryDataPointsRateLimit"
DEVICE_MSG = "transportDeviceMsgRateLimit"
DEVICE_TELEMETRY_MSG = "transportDeviceTelemetryMsgRateLimit"
DEVICE_TELEMETRY_DATA_POINTS = "transportDeviceTelemetryDataPointsRateLimit"
FIELDS: Final = (TENANT_MSG, TENANT_TELEMETRY_MSG, TENANT_TELEMETRY_DATA_POINTS,
                 DEVICE_MSG, DEVICE_TELEMETRY_MSG, DEVICE_TELEMETRY_DATA_POINTS)


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """At most ``capacity`` within any ``period_s`` seconds."""

    capacity: int
    period_s: int


#: A parsed limit: every bandwidth must hold; empty means no limit.
RateLimit = tuple[Bandwidth, ...]


def parse_rate_limit(text: str | None) -> RateLimit:
    """The bandwidths of ``"capacity:seconds,..."``; () for None or blank. ValueError, saying
    what is wrong, for anything else."""
    if text is None or not text.strip():
        return ()
    found: list[Bandwidth] = []
    for item in text.split(","):
        match = _PAIR.fullmatch(item.strip())
        if match is None:
            raise ValueError(
                f"expected capacity:seconds pairs separated by commas (e.g. 100:1,3000:60), "
                f"got {text!r}"
            )
        capacity, period = int(match.group(1)), int(match.group(2))
        if not 0 < capacity <= MAX_CAPACITY or not 0 < period <= MAX_PERIOD_S:
            raise ValueError(
                f"capacity must be 1 to {MAX_CAPACITY} and seconds 1 to {MAX_PERIOD_S}, "
                f"got {item.strip()!r}"
            )
        found.append(Bandwidth(capacity, period))
    return tuple(found)


def format_rate_limit(limit: RateLimit) -> str:
    """The text ``parse_rate_limit`` reads back as ``limit``."""
    return ",".join(f"{b.capacity}:{b.period_s}" for b in limit)


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """The six transport rate limits of a tenant; an empty one is no limit."""

    tenant_msg: RateLimit = ()
    tenant_telemetry_msg: RateLimit = ()
    tenant_telemetry_data_points: RateLimit = ()
    device_msg: RateLimit = ()
    device_telemetry_msg: RateLimit = ()
    device_telemetry_data_points: RateLimit = ()

    @property
    def unlimited(self) -> bool:
        """Whether none of the six limits anything."""
        return not any(getattr(self, f.name) for f in fields(self))

    @classmethod
    def from_texts(cls, texts: Mapping[str, str | None]) -> TransportLimits:
        """From ThingsBoard's field names to texts; ValueError naming the first bad field."""
        parsed: list[RateLimit] = []
        for name in FIELDS:
            try:
                parsed.append(parse_rate_limit(texts.get(name)))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(*parsed)

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any],
                           defaults: TransportLimits | None = None) -> TransportLimits:
        """A profile's ``configuration``; a field absent, null or blank takes ``defaults``'.
        ValueError naming the field when one is not a string or not in the syntax."""
        for name in FIELDS:
            value = configuration.get(name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name}: expected a string such as \"100:1,3000:60\", "
                                 f"got {value!r}")
        own = cls.from_texts(configuration)
        if defaults is None:
            return own
        return cls(*(mine or default for mine, default in zip(
            (getattr(own, f.name) for f in fields(cls)),
            (getattr(defaults, f.name) for f in fields(cls)), strict=True,
        )))
