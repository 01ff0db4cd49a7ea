"""The commands a WebSocket client sends, in both of ThingsBoard's envelopes.

``/api/ws`` takes ``{"authCmd": {..}, "cmds": [{"type": "TIMESERIES", "cmdId": 1, ..}, ..]}``;
the legacy ``/api/ws/plugins/telemetry`` takes ``{"tsSubCmds": [..], "attrSubCmds": [..], ..}``.
Both become one list of typed commands. As in ThingsBoard, a key the envelope does not know is
a parse error (so legacy keys sent to ``/api/ws`` are refused, not ignored); fields a command
does not use are ignored, so newer clients keep working. Parsing is msgspec's: typed structs,
a tagged union on ``type``, and "cmdId": "5" accepted as 5 as Jackson does.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from thingport.errors import BadRequest


class Command(msgspec.Struct, rename="camel", tag_field="type", kw_only=True):
    """Every command has the client's id, echoed in its replies."""

    cmd_id: int


class TimeseriesCmd(Command, tag="TIMESERIES"):
    """Latest values or a time window of a device's time series, then pushes."""

    entity_type: str | None = "DEVICE"
    entity_id: str | None = None
    keys: str | None = None
    scope: str | None = None
    start_ts: int | None = None
    time_window: int | None = None
    interval: int | None = None
    limit: int | None = None
    agg: str | None = None
    unsubscribe: bool | None = False


class AttributesCmd(Command, tag="ATTRIBUTES"):
    """A device's attributes of one scope (or all three), then pushes."""

    entity_type: str | None = "DEVICE"
    entity_id: str | None = None
    keys: str | None = None
    scope: str | None = None
    unsubscribe: bool | None = False


class HistoryCmd(Command, tag="TIMESERIES_HISTORY"):
    """One reply with the points of ``keys`` in ``[startTs, endTs]``."""

    entity_type: str | None = "DEVICE"
    entity_id: str | None = None
    keys: str | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    interval: int | None = None
    limit: int | None = None
    agg: str | None = None


class EntityKey(msgspec.Struct):
    """``{"type": "TIME_SERIES", "key": "temperature"}``."""

    type: str
    key: str


class SortOrder(msgspec.Struct):
    key: EntityKey | None = None
    direction: str = "ASC"


class PageLinkSpec(msgspec.Struct, rename="camel"):
    page_size: int = 10
    page: int = 0
    text_search: str | None = None
    sort_order: SortOrder | None = None
    dynamic: bool = False


class EntityQuery(msgspec.Struct, rename="camel"):
    """Which entities (``entityFilter``), which page, and which of their values."""

    entity_filter: dict[str, Any] = msgspec.field(default_factory=dict)
    page_link: PageLinkSpec = msgspec.field(default_factory=PageLinkSpec)
    entity_fields: list[EntityKey] = msgspec.field(default_factory=list)
    latest_values: list[EntityKey] = msgspec.field(default_factory=list)
    key_filters: list[Any] = msgspec.field(default_factory=list)


class LatestValueCmd(msgspec.Struct):
    keys: list[EntityKey] = msgspec.field(default_factory=list)


class TimeSeriesCmd(msgspec.Struct, rename="camel"):
    keys: list[str] = msgspec.field(default_factory=list)
    start_ts: int | None = None
    time_window: int | None = None
    interval: int | None = None
    limit: int | None = None
    agg: str | None = None


class EntityHistoryCmd(msgspec.Struct, rename="camel"):
    keys: list[str] = msgspec.field(default_factory=list)
    start_ts: int | None = None
    end_ts: int | None = None
    interval: int | None = None
    limit: int | None = None
    agg: str | None = None


class EntityDataCmd(Command, tag="ENTITY_DATA"):
    """A page of entities with values, and subscriptions to their changes."""

    query: EntityQuery | None = None
    latest_cmd: LatestValueCmd | None = None
    ts_cmd: TimeSeriesCmd | None = None
    history_cmd: EntityHistoryCmd | None = None


class EntityCountCmd(Command, tag="ENTITY_COUNT"):
    query: EntityQuery | None = None


class AlarmDataCmd(Command, tag="ALARM_DATA"):
    """thingport raises no alarms: always an empty page."""


class AlarmCountCmd(Command, tag="ALARM_COUNT"):
    """Always a count of 0."""


class AlarmStatusCmd(Command, tag="ALARM_STATUS"):
    """Never active."""


class NotificationsCmd(Command, tag="NOTIFICATIONS"):
    """thingport sends no notifications: always an empty list."""


class NotificationsCountCmd(Command, tag="NOTIFICATIONS_COUNT"):
    """Always 0 unread."""


class MarkNotificationsReadCmd(Command, tag="MARK_NOTIFICATIONS_AS_READ"):
    """Nothing to mark."""


class MarkAllNotificationsReadCmd(Command, tag="MARK_ALL_NOTIFICATIONS_AS_READ"):
    """Nothing to mark."""


class Unsubscribe(Command):
    """``{"type": "ENTITY_DATA_UNSUBSCRIBE", "cmdId": 3}`` and its siblings: end one cmd."""


class EntityDataUnsubscribe(Unsubscribe, tag="ENTITY_DATA_UNSUBSCRIBE"):
    pass


class EntityCountUnsubscribe(Unsubscribe, tag="ENTITY_COUNT_UNSUBSCRIBE"):
    pass


class AlarmDataUnsubscribe(Unsubscribe, tag="ALARM_DATA_UNSUBSCRIBE"):
    pass


class AlarmCountUnsubscribe(Unsubscribe, tag="ALARM_COUNT_UNSUBSCRIBE"):
    pass


class AlarmStatusUnsubscribe(Unsubscribe, tag="ALARM_STATUS_UNSUBSCRIBE"):
    pass


class NotificationsUnsubscribe(Unsubscribe, tag="NOTIFICATIONS_UNSUBSCRIBE"):
    pass


AnyCommand = Union[  # noqa: UP007 - msgspec needs a real Union object for a tagged union
    TimeseriesCmd, AttributesCmd, HistoryCmd, EntityDataCmd, EntityCountCmd, AlarmDataCmd,
    AlarmCountCmd, AlarmStatusCmd, NotificationsCmd, NotificationsCountCmd,
    MarkNotificationsReadCmd, MarkAllNotificationsReadCmd, EntityDataUnsubscribe,
    EntityCountUnsubscribe, AlarmDataUnsubscribe, AlarmCountUnsubscribe, AlarmStatusUnsubscribe,
    NotificationsUnsubscribe,
]


class AuthCmd(msgspec.Struct, rename="camel"):
    cmd_id: int = 0
    token: str | None = None


class Envelope(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """``/api/ws``: an optional ``authCmd`` (first message only) and the commands."""

    auth_cmd: AuthCmd | None = None
    cmds: list[AnyCommand] = msgspec.field(default_factory=list)


class LegacyEnvelope(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """``/api/ws/plugins/telemetry``: one list per kind of command, with no ``type``."""

    ts_sub_cmds: list[TimeseriesCmd] = msgspec.field(default_factory=list)
    attr_sub_cmds: list[AttributesCmd] = msgspec.field(default_factory=list)
    history_cmds: list[HistoryCmd] = msgspec.field(default_factory=list)
    entity_data_cmds: list[EntityDataCmd] = msgspec.field(default_factory=list)
    entity_data_unsubscribe_cmds: list[EntityDataUnsubscribe] = msgspec.field(
        default_factory=list)
    entity_count_cmds: list[EntityCountCmd] = msgspec.field(default_factory=list)
    entity_count_unsubscribe_cmds: list[EntityCountUnsubscribe] = msgspec.field(
        default_factory=list)
    alarm_data_cmds: list[AlarmDataCmd] = msgspec.field(default_factory=list)
    alarm_data_unsubscribe_cmds: list[AlarmDataUnsubscribe] = msgspec.field(
        default_factory=list)
    alarm_count_cmds: list[AlarmCountCmd] = msgspec.field(default_factory=list)
    alarm_count_unsubscribe_cmds: list[AlarmCountUnsubscribe] = msgspec.field(
        default_factory=list)

    def commands(self) -> list[Command]:
        """Every command, in ThingsBoard's order of kinds."""
        return [*self.attr_sub_cmds, *self.ts_sub_cmds, *self.history_cmds,
                *self.entity_data_cmds, *self.entity_data_unsubscribe_cmds,
                *self.entity_count_cmds, *self.entity_count_unsubscribe_cmds,
                *self.alarm_data_cmds, *self.alarm_data_unsubscribe_cmds,
                *self.alarm_count_cmds, *self.alarm_count_unsubscribe_cmds]


_envelope = msgspec.json.Decoder(Envelope, strict=False)
_legacy = msgspec.json.Decoder(LegacyEnvelope, strict=False)


def parse(frame: str | bytes, legacy: bool) -> tuple[AuthCmd | None, list[Command]]:
    """The auth command (``/api/ws`` only) and the commands of one frame; BadRequest with
    msgspec's description (which names the field) when it is not a valid envelope."""
    try:
        if legacy:
            return None, _legacy.decode(frame).commands()
        envelope = _envelope.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"Failed to parse the payload: {exc}") from None
    return envelope.auth_cmd, list(envelope.cmds)
