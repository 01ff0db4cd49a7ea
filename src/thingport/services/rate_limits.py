"""Rate limits of the device API per device and per tenant, from the tenant's profile.

Each limit is ThingsBoard's ``capacity:seconds,...`` (``domain.rate_limit``), counted with
token buckets refilled continuously (ThingsBoard's "greedy" refill): a bucket holds
``capacity`` tokens and gains ``capacity / seconds`` a second, so a device idle for a while may
send a burst of ``capacity`` at once. A request takes one token (and, for telemetry, one per
data point) from its tenant's buckets and its device's; when any of them is short it is
refused whole (``TooManyRequests`` with the seconds until it would pass) and takes nothing.

The buckets are in this node's memory: behind a load balancer each node counts on its own, so
N nodes let through up to N times a limit. Counting in Redis would cost a round trip on every
device request; a limit meant for a cluster can be divided by its number of nodes instead.
A tenant whose limits a change leaves as they were keeps its buckets (and its devices'); one
whose limits change starts with full buckets.

Nothing here runs while no limit is configured anywhere (``active`` is False: no server-wide
default and no profile with a limit), so the device API only reads one attribute then.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from thingport.bus import BUS_STATE, Bus
from thingport.domain import rate_limit as fields
from thingport.domain.model import Device, PageLink, TenantProfile
from thingport.domain.rate_limit import RateLimit, TransportLimits, format_rate_limit
from thingport.errors import TooManyRequests
from thingport.lru import LruCache
from thingport.services.channels import TENANT_PROFILES_CHANGED
from thingport.store.base import Store

log = logging.getLogger(__name__)

#: Devices whose buckets a tenant keeps at most; beyond it the least recently seen are
#: forgotten (and start over, full, when they come back).
MAX_DEVICES = 200_000
#: The ``limit`` label of refusals in the metrics.
METRIC_LABEL = "device-rate"


class Buckets:
    """The token buckets of one rate limit (one per bandwidth); all must hold enough."""

    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens", "text")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._capacity = [float(b.capacity) for b in limit]
        self._rate = [b.capacity / b.period_s for b in limit]
        self._tokens = list(self._capacity)
        self._stamp = now
        #: The limit as configured, for messages.
        self.text = format_rate_limit(limit)

    def wait(self, amount: int, now: float) -> float:
        """Seconds until ``amount`` tokens are there (0: now; inf: never, more than a
        bucket holds). Refills the buckets up to ``now``."""
        elapsed = now - self._stamp
        self._stamp = now
        longest = 0.0
        tokens, rates, capacities = self._tokens, self._rate, self._capacity
        for i in range(len(tokens)):
            have = tokens[i] + elapsed * rates[i]
            capacity = capacities[i]
            if have > capacity:
                have = capacity
            tokens[i] = have
            if have < amount:
                if amount > capacity:
                    return math.inf
                wait = (amount - have) / rates[i]
                if wait > longest:
                    longest = wait
        return longest

    def take(self, amount: int) -> None:
        """Take ``amount`` tokens (after ``wait`` said 0)."""
        tokens = self._tokens
        for i in range(len(tokens)):
            tokens[i] -= amount


#: One entity's limits of one kind: the buckets, whether they count data points (or
#: messages), and the field they come from (for the refusal's message).
Checks = tuple[tuple[Buckets, bool, str], ...]


def _checks(now: float, *limits: tuple[RateLimit, bool, str]) -> Checks:
    return tuple((Buckets(limit, now), points, name) for limit, points, name in limits if limit)


@dataclass(slots=True)
class _Entity:
    """A tenant's or a device's buckets: for messages without data points, and for those
    with (telemetry messages and their data points)."""

    messages: Checks
    data: Checks


@dataclass(slots=True)
class _Tenant:
    limits: TransportLimits
    own: _Entity
    #: By ``device.id.int`` (an int hashes faster than a UUID).
    devices: LruCache[int, _Entity] = field(default_factory=lambda: LruCache(MAX_DEVICES))
    #: ``limits.unlimited``, worked out once (it is read on every request).
    unlimited: bool = False

    def __post_init__(self) -> None:
        self.unlimited = self.limits.unlimited

    def device(self, device_id: int, now: float) -> _Entity:
        entity = self.devices.get(device_id)
        if entity is None:
            limits = self.limits
            entity = self.devices[device_id] = _Entity(
                _checks(now, (limits.device_msg, False, fields.DEVICE_MSG)),
                _checks(now, (limits.device_telemetry_msg, False, fields.DEVICE_TELEMETRY_MSG),
                        (limits.device_telemetry_data_points, True,
                         fields.DEVICE_TELEMETRY_DATA_POINTS)),
            )
        return entity


def _tenant_state(limits: TransportLimits, now: float) -> _Tenant:
    return _Tenant(limits, _Entity(
        _checks(now, (limits.tenant_msg, False, fields.TENANT_MSG)),
        _checks(now, (limits.tenant_telemetry_msg, False, fields.TENANT_TELEMETRY_MSG),
                (limits.tenant_telemetry_data_points, True,
                 fields.TENANT_TELEMETRY_DATA_POINTS)),
    ))


class RateLimitService:
    """Per-device and per-tenant transport rate limits; ``defaults`` (the server-wide
    settings) fill in what a tenant's profile leaves empty."""

    def __init__(self, store: Store, bus: Bus, defaults: TransportLimits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._bus = bus
        self.defaults = defaults
        self._clock = clock
        #: By ``tenant_id.int``.
        self._tenants: dict[int, _Tenant] = {}
        #: The states a refresh set aside: kept when the tenant's limits turn out unchanged.
        self._retired: dict[int, _Tenant] = {}
        #: Bumped by every refresh: limits resolved across one must not be kept.
        self._generation = 0
        #: Whether any limit is configured (the device API checks nothing while it is not).
        self.active = not defaults.unlimited

    async def refresh(self) -> None:
        """Forget every tenant's resolved limits, and find out again whether any profile
        limits anything. Run at start and whenever profiles change."""
        self._generation += 1
        self._retired.update(self._tenants)
        self._tenants = {}
        active = not self.defaults.unlimited
        page = 0
        while not active:
            found = await self._store.find_tenant_profiles(PageLink(100, page))
            active = any(not self._limits_of(profile).unlimited for profile in found.data)
            if not found.has_next:
                break
            page += 1
        self.active = active

    async def changed(self) -> None:
        """A tenant profile, or which profile a tenant has, changed: every node refreshes."""
        await self.refresh()
        await self._bus.publish(TENANT_PROFILES_CHANGED)

    async def run(self) -> None:
        """Run for the server's lifetime: refresh when any node says profiles changed (or
        the bus was down, when such news may have been lost)."""
        async with self._bus.subscribe(TENANT_PROFILES_CHANGED) as changes:
            while True:
                message = await changes.get()
                if message is not None and (message[0] != BUS_STATE or self._bus.connected):
                    try:
                        await self.refresh()
                    except Exception:
                        log.exception("could not reload the tenant profiles' rate limits")

    # -- the device API's checks ---------------------------------------------------------------
    async def check_message(self, device: Device) -> None:
        """Count a message without data points (attribute read, poll, RPC, claim, firmware);
        TooManyRequests, counting nothing, when the tenant or the device is over its limit."""
        key = device.tenant_id.int
        tenant = self._tenants.get(key) or await self._resolve(device.tenant_id)
        if tenant.unlimited:
            return
        now = self._clock()
        _consume(now, 1, tenant.own.messages, tenant.device(device.id.int, now).messages)

    async def check_data(self, device: Device, data_points: int) -> None:
        """Count a message with ``data_points`` entries (telemetry, attributes); one without
        any counts as ``check_message`` does, as in ThingsBoard."""
        if data_points <= 0:
            await self.check_message(device)
            return
        key = device.tenant_id.int
        tenant = self._tenants.get(key) or await self._resolve(device.tenant_id)
        if tenant.unlimited:
            return
        now = self._clock()
        _consume(now, data_points, tenant.own.data, tenant.device(device.id.int, now).data)

    # -- resolving a tenant's limits -----------------------------------------------------------
    async def _resolve(self, tenant_id: UUID) -> _Tenant:
        # Read again when a refresh came in meanwhile: the limits read may predate it.
        while True:
            generation = self._generation
            limits = await self._limits_of_tenant(tenant_id)
            if generation == self._generation:
                break
        key = tenant_id.int
        existing = self._tenants.get(key)
        if existing is not None:  # another request resolved it meanwhile: keep its buckets
            return existing
        retired = self._retired.pop(key, None)
        if retired is not None and retired.limits == limits:
            state = retired
        else:
            state = _tenant_state(limits, self._clock())
        self._tenants[key] = state
        return state

    async def _limits_of_tenant(self, tenant_id: UUID) -> TransportLimits:
        tenant = await self._store.get_tenant(tenant_id)
        profile: TenantProfile | None = None
        if tenant is not None and tenant.tenant_profile_id is not None:
            profile = await self._store.get_tenant_profile(tenant.tenant_profile_id)
        if profile is None:
            profile = await self._store.get_default_tenant_profile()
        return self._limits_of(profile) if profile is not None else self.defaults

    def _limits_of(self, profile: TenantProfile) -> TransportLimits:
        configuration = (profile.profile_data or {}).get("configuration")
        if not isinstance(configuration, dict):
            return self.defaults
        try:
            return TransportLimits.from_configuration(configuration, self.defaults)
        except ValueError as exc:
            # Saving checks the syntax, so only a profile written around the API gets here.
            log.warning("tenant profile %s: %s; using the server-wide limits", profile.id, exc)
            return self.defaults


def _consume(now: float, data_points: int, tenant: Checks, device: Checks) -> None:
    """Take from every bucket or from none; TooManyRequests naming the first one short."""
    for checks in (tenant, device):
        for buckets, points, name in checks:
            wait = buckets.wait(data_points if points else 1, now)
            if wait:
                raise _refused(buckets, name, wait, data_points)
    for checks in (tenant, device):
        for buckets, points, _ in checks:
            buckets.take(data_points if points else 1)


def _refused(buckets: Buckets, name: str, wait: float, data_points: int) -> TooManyRequests:
    if wait == math.inf:
        return TooManyRequests(
            f"{name} ({buckets.text}) allows fewer than the {data_points} data points of this "
            "request", retry_after=60, limit=METRIC_LABEL,
        )
    seconds = max(1, math.ceil(wait))
    return TooManyRequests(f"Rate limit exceeded: {name} ({buckets.text}); retry in {seconds} s",
                           retry_after=seconds, limit=METRIC_LABEL)
