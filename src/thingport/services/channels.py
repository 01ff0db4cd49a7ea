"""Every bus channel the services publish on or listen to, in one place.

Wake-ups (a message means "look in the store again"; the store stays the truth):

    device:{id}              a device was deleted: its waiting polls give up
    attributes:{id}          shared attributes changed: the device's attribute poll wakes
    rpc:{id}                 a server-side RPC may be waiting for the device
    rpc-state:{rpc id}       an RPC's state changed: whoever waits for its outcome wakes
    client-rpc:{id}          a device sent a request to the server (client-side RPC)
    client-rpc-answer:{id}   an application answered that request

Node-to-node notices:

    device-changed           a device's name, owner, token or existence changed (cache drop)
    device-inactive          a node marked a device inactive
    tenant-profiles-changed  a tenant profile, or which profile a tenant has, changed

Live values for WebSocket subscribers (these carry the data, see ``services.live``):

    ts:{id}                  new time-series points of a device
    attr:{id}                attribute saves and deletions of a device, any scope

The bus's own state channel (``BUS_STATE``) belongs to the bus, in ``thingport.bus.base``.
"""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID

#: Every node forgets its cached lookups of a device named on this channel.
DEVICE_CHANGED = "device-changed"
#: Told (with the device id and the sender's node id) when a node marks a device inactive.
DEVICE_INACTIVE = "device-inactive"
#: Every node forgets the limits it resolved when a tenant profile or a tenant's profile changes.
TENANT_PROFILES_CHANGED = "tenant-profiles-changed"

#: Devices whose telemetry channel name is kept (about 200 bytes each).
TELEMETRY_CHANNELS_CACHED = 65536


def device_channel(device_id: UUID) -> str:
    """The channel on which a device's deletion wakes its waiting polls."""
    return f"device:{device_id}"


def shared_changes_channel(device_id: UUID) -> str:
    """Wakes the device's attribute-update poll."""
    return f"attributes:{device_id}"


def rpc_channel(device_id: UUID) -> str:
    """Wakes the device's RPC poll: a new command may be waiting."""
    return f"rpc:{device_id}"


def rpc_done_channel(rpc_id: UUID) -> str:
    """Wakes whoever waits for an RPC's outcome: its state changed."""
    return f"rpc-state:{rpc_id}"


def client_rpc_channel(device_id: UUID) -> str:
    """Wakes applications waiting for the device's requests."""
    return f"client-rpc:{device_id}"


def client_rpc_answer_channel(request_id: UUID) -> str:
    """Wakes the device waiting for this request's answer."""
    return f"client-rpc-answer:{request_id}"


@lru_cache(maxsize=TELEMETRY_CHANNELS_CACHED)
def telemetry_channel(device_id: UUID) -> str:
    """New time-series points of one device."""
    # Cached: asked on every telemetry upload, and str(UUID) costs more than the lookup.
    return f"ts:{device_id}"


def attributes_channel(device_id: UUID) -> str:
    """Attribute saves and deletions of one device, any scope."""
    return f"attr:{device_id}"
