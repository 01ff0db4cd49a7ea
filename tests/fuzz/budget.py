"""How much the fuzz tests send, and the hypothesis settings they share.

``THINGPORT_FUZZ_EXAMPLES`` scales every fuzz test: examples per REST operation for the tenant
administrator (half as many for the system administrator), and, times
``DEVICE_REQUESTS_PER_EXAMPLE``, requests on the device API. The default (about 4,800 requests)
keeps the fuzz tests to about two minutes on a 2-core machine; raise it for a longer hunt.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

VARIABLE = "THINGPORT_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 20
#: The device API has fewer routes than the REST API, and each request is cheaper.
DEVICE_REQUESTS_PER_EXAMPLE = 100


def examples() -> int:
    """``THINGPORT_FUZZ_EXAMPLES``, a positive integer (default ``DEFAULT_EXAMPLES``)."""
    raw = os.environ.get(VARIABLE, "").strip()
    if not raw:
        return DEFAULT_EXAMPLES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{VARIABLE} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{VARIABLE} must be a positive integer, got {raw!r}")
    return value


def fuzz_settings(max_examples: int) -> settings:
    """Reproducible runs (a fixed seed, no example database) that only generate: every request
    is recorded rather than raised, so there is nothing to shrink."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
