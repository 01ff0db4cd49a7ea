"""Writing many rows with few statements: ``INSERT ... VALUES (?, ...), (?, ...), ...``.

``executemany`` runs its statement once per row: each row pays a step and a reset of the
statement, and the writer thread gives the GIL up and takes it back around every step, while
the event loop wants it too. One statement that carries many rows does the same work in one
step. Rows go in statements of ``CHUNK`` rows and the rest in halving sizes (64, 32, ... 1),
so that at most a few distinct statements are ever prepared (the connection caches them).
The rows are written in order, as ``executemany`` writes them, and a failing row fails the
call as it would there (the caller's savepoint undoes the rows before it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any, Final

#: Rows per statement at most (5 values each: far below SQLite's 32,766 parameters).
CHUNK: Final = 128


class MultiRowInsert:
    """An ``INSERT`` of rows of ``width`` values: ``head`` up to ``VALUES``, then the rows,
    then ``tail`` (an ``ON CONFLICT`` clause, say)."""

    __slots__ = ("_sql",)

    def __init__(self, head: str, width: int, tail: str = "") -> None:
        row = "(" + ", ".join("?" * width) + ")"
        self._sql: dict[int, str] = {}
        size = CHUNK
        while size:
            self._sql[size] = f"{head} {', '.join([row] * size)}{tail}"
            size //= 2

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Write ``rows``, in order."""
        sql, execute, flat = self._sql, conn.execute, chain.from_iterable
        start, left, size = 0, len(rows), CHUNK
        while left:
            while left < size:
                size //= 2
            end = start + size
            execute(sql[size], list(flat(rows[start:end])))
            start, left = end, left - size
