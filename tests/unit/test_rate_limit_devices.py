"""A tenant's device buckets are bounded: the least recently seen device starts over first,
the others keep what they have used."""

from __future__ import annotations

import pytest

from thingport.domain.rate_limit import TransportLimits, parse_rate_limit
from thingport.services import rate_limits
from thingport.services.rate_limits import _tenant_state


def test_a_full_tenant_forgets_its_least_recently_seen_device(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limits, "MAX_DEVICES", 2)
    tenant = _tenant_state(TransportLimits(device_msg=parse_rate_limit("1:60")), 0.0)
    first = tenant.device(1, 0.0)
    second = tenant.device(2, 0.0)
    assert tenant.device(1, 0.0) is first  # seen again: device 2 is the least recently seen
    tenant.device(3, 0.0)
    assert tenant.device(1, 0.0) is first  # its buckets (what it used) are kept
    assert tenant.device(2, 0.0) is not second  # forgotten: it starts over
    assert len(tenant.devices) == 2
