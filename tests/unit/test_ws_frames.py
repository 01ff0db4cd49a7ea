"""WebSocket commands and frames: parsing both envelopes, ThingsBoard's value strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thingport.api.ws.commands import (
    AttributesCmd,
    EntityDataCmd,
    EntityDataUnsubscribe,
    TimeseriesCmd,
    parse,
)
from thingport.api.ws.frames import telemetry_update
from thingport.domain.model import AttributeKvEntry, DataType, TsKvEntry
from thingport.errors import BadRequest


def test_legacy_envelope_becomes_typed_commands() -> None:
    auth, commands = parse(
        '{"tsSubCmds":[{"entityType":"DEVICE","entityId":"d","scope":"LATEST_TELEMETRY",'
        '"cmdId":"10","extra":1}],"attrSubCmds":[{"entityId":"d","cmdId":2}]}', legacy=True)
    assert auth is None
    assert [type(c) for c in commands] == [AttributesCmd, TimeseriesCmd]
    ts = commands[1]
    assert isinstance(ts, TimeseriesCmd)
    assert (ts.cmd_id, ts.scope, ts.entity_id) == (10, "LATEST_TELEMETRY", "d")


def test_new_envelope_with_auth_and_a_tagged_union() -> None:
    auth, commands = parse(
        '{"authCmd":{"cmdId":0,"token":"jwt"},"cmds":[{"type":"ENTITY_DATA","cmdId":1,'
        '"query":{"entityFilter":{"type":"singleEntity"},"pageLink":{"pageSize":5}},'
        '"latestCmd":{"keys":[{"type":"TIME_SERIES","key":"t"}]}},'
        '{"type":"ENTITY_DATA_UNSUBSCRIBE","cmdId":1}]}', legacy=False)
    assert auth is not None and auth.token == "jwt"
    first, second = commands
    assert isinstance(first, EntityDataCmd) and isinstance(second, EntityDataUnsubscribe)
    assert first.query is not None and first.query.page_link.page_size == 5
    assert first.latest_cmd is not None and first.latest_cmd.keys[0].key == "t"


@pytest.mark.parametrize(("frame", "legacy", "message"), [
    ('{"tsSubCmds":[]}', False, "unknown field `tsSubCmds`"),
    ('{"authCmd":{"token":"t"}}', True, "unknown field `authCmd`"),
    ('{"cmds":[{"type":"NOPE","cmdId":1}]}', False, "Invalid value 'NOPE'"),
    ('{"cmds":[{"type":"TIMESERIES"}]}', False, "missing required field `cmdId`"),
    ("[1,2", True, "Failed to parse the payload: "),
])
def test_bad_envelopes_name_what_is_wrong(frame: str, legacy: bool, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse(frame, legacy)
    assert message in raised.value.message
    assert raised.value.message.startswith("Failed to parse the payload")


def test_update_frame_is_thingsboards_shape() -> None:
    frame = telemetry_update(7, [
        TsKvEntry(2, "b", DataType.DOUBLE, 42.0), TsKvEntry(1, "b", DataType.DOUBLE, 1e-05),
        TsKvEntry(3, "a", DataType.BOOLEAN, True), TsKvEntry(3, "j", DataType.JSON, '{"x":1}'),
    ])
    assert frame == {
        "subscriptionId": 7, "errorCode": 0, "errorMsg": None,
        "data": {"a": [[3, "true"]], "b": [[2, "42.0"], [1, "1.0E-5"]], "j": [[3, '{"x":1}']]},
        "latestValues": {"a": 3, "b": 1, "j": 3},
    }
    assert list(frame["data"]) == ["a", "b", "j"]


def test_attribute_frames_use_the_last_update_time() -> None:
    frame = telemetry_update(1, [AttributeKvEntry("fw", DataType.STRING, "1.0", 99)])
    assert frame["data"] == {"fw": [[99, "1.0"]]} and frame["latestValues"] == {"fw": 99}


@given(st.lists(st.tuples(st.integers(0, 2**41), st.sampled_from("abc"), st.integers(-9, 9)),
                min_size=1))
def test_latest_values_point_at_each_keys_last_pair(
    points: list[tuple[int, str, int]],
) -> None:
    frame = telemetry_update(1, [TsKvEntry(ts, key, DataType.LONG, v) for ts, key, v in points])
    for key, pairs in frame["data"].items():
        assert frame["latestValues"][key] == pairs[-1][0]
        assert [p[1] for p in pairs] == [str(v) for _, k, v in points if k == key]
