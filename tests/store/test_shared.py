"""The dialect-free parts of the stores (``thingport.store.shared``), without a database."""

from __future__ import annotations

import math
import sqlite3
import uuid
from typing import Any

import pytest

from thingport.domain.model import (
    Authority,
    DataType,
    Device,
    KvEntry,
    PageLink,
    Rpc,
    RpcStatus,
    User,
)
from thingport.errors import BadRequest, ConfigError, Conflict
from thingport.store.shared import errors, migrations, paging, params, rows, values

ENTRIES = [
    KvEntry("b", DataType.BOOLEAN, True),
    KvEntry("l", DataType.LONG, -(2**63)),
    KvEntry("d", DataType.DOUBLE, 3),
    KvEntry("s", DataType.STRING, "text"),
    KvEntry("j", DataType.JSON, '{"a":[1,2]}'),
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.type.value)
def test_typed_columns_round_trip(entry: KvEntry) -> None:
    columns = values.typed_columns(entry)
    assert sum(c is not None for c in columns) == 1
    data_type, value = values.from_typed_columns(*columns)
    assert data_type is entry.type and value == entry.value
    assert type(value) is (float if entry.type is DataType.DOUBLE else type(entry.value))


def test_a_decoded_json_column_comes_back_as_compact_text() -> None:
    assert values.from_typed_columns(None, None, None, None, {"a": [1, 2]}) == (
        DataType.JSON, '{"a":[1,2]}'
    )
    with pytest.raises(ValueError):
        values.from_typed_columns(None, None, None, None, None)


def test_sqlite_codes_are_the_on_disk_format() -> None:
    assert [values.TYPE_CODE[t] for t in DataType] == [1, 2, 3, 4, 5]
    encoded = values.encode(DataType.DOUBLE, 3)
    assert encoded == 3.0 and type(encoded) is float
    assert values.decode(values.CODE_BOOLEAN, 1) is True
    assert math.isnan(values.decode(values.CODE_DOUBLE, None))


class _DriverUuid(uuid.UUID):
    """Stands for asyncpg's UUID type, a subclass of uuid.UUID."""


def test_mappers_accept_either_drivers_values() -> None:
    device = Device(
        uuid.uuid4(), uuid.uuid4(), "n", "default", uuid.uuid4(), 5, customer_id=uuid.uuid4(),
        additional_info={"gateway": False},
    )
    as_text = params.device(device)
    as_objects: list[Any] = list(params.device(device, params.as_is))
    as_objects[0] = _DriverUuid(int=device.id.int)
    as_objects[8] = {"gateway": False}  # a JSON codec's decoded value
    for row in (as_text, as_objects):
        got = rows.device(row)
        assert got == device and type(got.id) is uuid.UUID

    rpc = Rpc(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 1, 2, "m", "{}", True, False,
              RpcStatus.SENT, 7)
    assert rows.rpc(params.rpc(rpc)) == rpc
    sqlite_row = [1 if v is True else 0 if v is False else v for v in params.rpc(rpc)]
    assert rows.rpc(sqlite_row) == rpc
    user = User(uuid.uuid4(), None, None, "A@b.c", Authority.SYS_ADMIN, 1)
    assert params.user(user)[-1] == "a@b.c"
    assert rows.user(params.user(user)[: len(rows.USER_COLUMNS.split(","))]) == user


_SQLITE = paging.SqlStyle(lambda n: "?", lambda c, p: f"tp_contains({c}, {p})",
                          lambda c: f"{c} COLLATE NOCASE")
_POSTGRES = paging.SqlStyle(lambda n: f"${n}", lambda c, p: f"strpos(lower({c}), {p}) > 0",
                            lambda c: f"lower({c})", str.lower)


def test_page_query_numbers_placeholders_after_the_callers() -> None:
    link = PageLink(10, 2, text_search="Ab", sort_property="email", sort_order="desc")
    query = paging.page_query(paging.USERS, ["tenant_id = $1"], ["t"], link, _POSTGRES)
    assert "strpos(lower(email), $2) > 0 OR strpos(lower(first_name), $3) > 0" in query.rows_sql
    assert query.rows_sql.endswith(
        "ORDER BY email IS NULL DESC, lower(email) DESC, id DESC LIMIT $5 OFFSET $6"
    )
    assert query.rows_params == ["t", "ab", "ab", "ab", 10, 20]
    assert query.count_params == ["t", "ab", "ab", "ab"]
    sqlite = paging.page_query(paging.DEVICES, [], [], PageLink(5), _SQLITE)
    assert sqlite.rows_sql.endswith(
        "ORDER BY name IS NULL ASC, name COLLATE NOCASE ASC, id ASC LIMIT ? OFFSET ?"
    )


@pytest.mark.parametrize("link", [
    PageLink(0), PageLink(1, -1), PageLink(1, sort_property="nope"), PageLink(1, sort_order="up"),
])
def test_page_query_refuses_bad_links(link: PageLink) -> None:
    with pytest.raises(BadRequest):
        paging.page_query(paging.DEVICES, [], [], link, _SQLITE)


def test_to_page_counts() -> None:
    page = paging.to_page([1, 2], 5, PageLink(2, 1), str)
    assert (page.data, page.total_pages, page.total_elements, page.has_next) == (
        ["1", "2"], 3, 5, True
    )


def test_conflicts_by_key_and_by_constraint_name() -> None:
    assert str(errors.conflict("device", ["tenant_id", "name"])) == (
        "Device with such name already exists!"
    )
    assert str(errors.conflict_for_constraint("device_tenant_id_name_key")) == (
        "Device with such name already exists!"
    )
    assert str(errors.conflict_for_constraint("rpc_pkey")) == "RPC with such id already exists!"
    assert str(errors.conflict("t", ["a", "b"])) == "Duplicate t.a, t.b"
    assert isinstance(errors.conflict_for_constraint("x"), Conflict)


def test_shipped_migrations_are_numbered_from_one() -> None:
    found = migrations.discover("sqlite")
    assert [m.number for m in found] == list(range(1, len(found) + 1))
    assert migrations.pending(found, 2) == found[2:]
    migrations.check_not_newer(migrations.latest(found), found)
    with pytest.raises(ConfigError, match="newer than this thingport"):
        migrations.check_not_newer(migrations.latest(found) + 1, found)


def test_split_statements_keeps_whole_statements() -> None:
    script = "CREATE TABLE a (x);\n-- note\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n" \
             "  SELECT 1;\nEND;\n"
    assert list(migrations.split_statements(script, sqlite3.complete_statement)) == [
        "CREATE TABLE a (x);",
        "-- note\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\nEND;",
    ]
    with pytest.raises(ConfigError, match="Unterminated"):
        list(migrations.split_statements("SELECT 1", sqlite3.complete_statement))
