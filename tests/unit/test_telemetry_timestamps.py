"""The sample-time rule at its edges."""

from __future__ import annotations

import pytest

from thingport.domain.model import DataType, KvEntry
from thingport.errors import InvalidPayload
from thingport.services.telemetry import MAX_TS_AHEAD_MS, check_timestamps

NOW = 1_700_000_000_000
ENTRY = [KvEntry("t", DataType.LONG, 1)]


@pytest.mark.parametrize("ts", [0, NOW, NOW + MAX_TS_AHEAD_MS])
def test_from_1970_to_a_year_ahead_passes(ts: int) -> None:
    check_timestamps([(ts, ENTRY)], NOW)


@pytest.mark.parametrize("ts", [-1, -(2**63), NOW + MAX_TS_AHEAD_MS + 1, 2**63 - 1])
def test_outside_is_refused(ts: int) -> None:
    with pytest.raises(InvalidPayload, match=f'"ts" {ts} is out of range'):
        check_timestamps([(NOW, ENTRY), (ts, ENTRY)], NOW)


def test_an_empty_group_stores_nothing_so_its_time_does_not_matter() -> None:
    check_timestamps([(-5, []), (NOW, ENTRY)], NOW)
