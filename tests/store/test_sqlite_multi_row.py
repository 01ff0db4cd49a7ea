"""Many rows per statement (``multi_row.py``) write exactly what ``executemany`` writes."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thingport.store.sqlite.multi_row import CHUNK, MultiRowInsert
from thingport.store.sqlite.sample_log import INSERT_LOG, INSERT_TS, UPSERT_LATEST, upsert_latest

SCHEMA = """
CREATE TABLE ts_kv_log (seq INTEGER PRIMARY KEY, device INTEGER NOT NULL,
    key INTEGER NOT NULL, ts INTEGER NOT NULL, type INTEGER NOT NULL, v);
CREATE TABLE ts_kv_latest (device INTEGER NOT NULL, key INTEGER NOT NULL,
    ts INTEGER NOT NULL, type INTEGER NOT NULL, v, PRIMARY KEY (device, key)) WITHOUT ROWID;
"""

_values = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                    st.text(max_size=5), st.booleans(), st.none())
# Few devices, keys and timestamps: rows often collide on (device, key) and on ts.
_rows = st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 4),
                           st.integers(1, 5), _values), max_size=3 * CHUNK + 7)


def _connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA)
    return conn


def _table(conn: sqlite3.Connection, table: str) -> list[Any]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


@settings(max_examples=200, deadline=None)
@given(rows=_rows)
def test_the_log_gets_the_rows_of_executemany_in_the_same_order(rows: list[Any]) -> None:
    expected, got = _connection(), _connection()
    expected.executemany(INSERT_TS, rows)
    INSERT_LOG.run(got, rows)
    assert _table(got, "ts_kv_log") == _table(expected, "ts_kv_log")


@settings(max_examples=200, deadline=None)
@given(first=_rows, rows=_rows)
def test_the_latest_values_are_those_of_executemany(first: list[Any], rows: list[Any]) -> None:
    expected, got = _connection(), _connection()
    for conn in (expected, got):
        conn.executemany(UPSERT_LATEST, first)
    expected.executemany(UPSERT_LATEST, rows)
    upsert_latest(got, rows, False, set())
    assert _table(got, "ts_kv_latest") == _table(expected, "ts_kv_latest")


def test_a_row_that_cannot_be_bound_fails_the_call_as_in_executemany() -> None:
    rows = [(1, 1, 1, 1, 1)] * (CHUNK + 1) + [(1, 1, 1, 1, 2**64)]
    with pytest.raises(OverflowError):
        _connection().executemany(INSERT_TS, rows)
    with pytest.raises(OverflowError):
        INSERT_LOG.run(_connection(), rows)


def test_few_distinct_statements_are_made() -> None:
    insert = MultiRowInsert("INSERT INTO ts_kv_log (device, key, ts, type, v) VALUES", 5)
    conn = _connection()
    for n in range(2 * CHUNK + 1):
        insert.run(conn, [(1, 1, n, 1, n)] * n)
    assert conn.execute("SELECT count(*) FROM ts_kv_log").fetchone()[0] == sum(
        range(2 * CHUNK + 1))
    assert len(insert._sql) == CHUNK.bit_length()
