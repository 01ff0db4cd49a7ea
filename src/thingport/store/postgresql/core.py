"""What every part of the PostgreSQL store uses: connections, reads, writes, keys, errors.

``PgCore`` is the base of the aggregate mixins (``entities``, ``telemetry``, ...), so that each
of them is a plain class over these helpers and none imports another:

- reads run on a pool (``_fetch``, ``_fetchrow``, ``_fetchval``): one statement each, in
  autocommit, so each sees everything committed before it started, every acknowledged write
  included;
- writes go through the group-commit lanes (``_write``, see ``batcher``), keyed by device so
  that one device's writes keep their order;
- ``_transaction`` runs a function in a transaction of its own on a pooled connection, for
  what should not hold a lane (OTA chunks of several MiB);
- ``_key_ids`` maps time-series and attribute key names to ``key_dictionary`` ids, allocated
  in a transaction of their own (an unused key is harmless) and cached for the node's life
  (ids never change);
- ``translate`` turns a constraint violation into the domain error the contract promises.

The pool's connections never change session state (no SET, LISTEN or advisory lock: those
use connections of their own), so the pool hands them back without asyncpg's reset query, a
round trip saved per read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from thingport.domain.model import Page, PageLink
from thingport.errors import BadRequest, StoreUnavailable
from thingport.store.postgresql.batcher import Lanes
from thingport.store.shared import paging
from thingport.store.shared.errors import conflict_for_constraint, missing_reference

if TYPE_CHECKING:
    import asyncpg

_R = TypeVar("_R")
_T = TypeVar("_T")

#: Text sorts as SQLite's NOCASE does (ASCII letters folded, then code point order), whatever
#: the database's own collation.
_TEXT_ORDER: Final = 'lower({} COLLATE "C")'


def translate(exc: BaseException) -> BaseException:
    """The domain error for a driver error (a unique key -> Conflict with ThingsBoard's
    message, a foreign key -> NotFound, a NUL in text or a text too long -> BadRequest, a
    full disk or a lost or refused connection -> StoreUnavailable), else ``exc``."""
    import asyncpg

    if isinstance(exc, asyncpg.InsufficientResourcesError | asyncpg.PostgresConnectionError
                  | asyncpg.AdminShutdownError | asyncpg.CrashShutdownError
                  | asyncpg.CannotConnectNowError | ConnectionError):
        return StoreUnavailable(f"The store cannot serve this request now ({exc}). "
                                "Try again later.")
    if isinstance(exc, asyncpg.StringDataRightTruncationError):
        return BadRequest(f"A value is too long to be stored: {exc}")
    if isinstance(exc, asyncpg.UniqueViolationError):
        return conflict_for_constraint(exc.constraint_name or "")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return missing_reference()
    if isinstance(
        exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError
    ):
        return BadRequest(f"Text cannot be stored: {exc}")
    return exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see the module docstring)."""


class PgCore:
    """Connections and the helpers every aggregate mixin uses."""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._lanes: Lanes | None = None
        self._keys: dict[str, int] = {}
        # Writes still resolving key ids before they queue: close() waits for them.
        self._preparing = 0
        self._prepared = asyncio.Event()
        self._prepared.set()
        # Set at open: the collation a text search folds case with.
        self._search_collation = ""
        # One save too large for a lane at a time (see ``uploads``).
        self._upload_gate = asyncio.Semaphore(1)
        self._style = self._make_style()

    def _make_style(self) -> paging.SqlStyle:
        def contains(column: str, placeholder: str) -> str:
            c = self._search_collation
            return f"strpos(lower({column}{c}), lower({placeholder}{c})) > 0"

        return paging.SqlStyle(
            placeholder=lambda n: f"${n}", contains=contains,
            text_order=_TEXT_ORDER.format, fold=str,
        )

    # -- reads ---------------------------------------------------------------------------------
    @property
    def _readers(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresStore is not open")
        return self._pool

    async def _read(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        """``pool.<method>(sql, *args)``, once more on a fresh connection when the pooled one
        turns out to be dead (the server restarted, or an administrator ended the session):
        a read is safe to repeat."""
        import asyncpg

        for attempt in (1, 2):
            try:
                return await getattr(self._readers, method)(sql, *args)
            except (asyncpg.ConnectionDoesNotExistError, ConnectionError) as exc:
                if attempt == 2:
                    raise translate(exc) from exc
            except Exception as exc:
                raise translate(exc) from exc
        raise AssertionError("unreachable")

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._read("fetch", sql, args)
        return rows

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._read("fetchrow", sql, args)
        return row

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        return await self._read("fetchval", sql, args)

    async def _one(
        self, sql: str, args: Sequence[Any], make: Callable[[asyncpg.Record], _T]
    ) -> _T | None:
        row = await self._fetchrow(sql, *args)
        return None if row is None else make(row)

    async def _page(
        self, listing: paging.Listing, where: Sequence[str], params: Sequence[Any],
        link: PageLink, make: Callable[[Any], _T],
    ) -> Page[_T]:
        """A page of ``listing``: its rows and the total count in one statement (one
        snapshot); a page past the end needs a second statement for the count alone."""
        query = paging.page_query(listing, where, params, link, self._style)
        rows = await self._fetch(
            f"SELECT ({query.count_sql}) AS total_count, page.* FROM ({query.rows_sql}) page",
            *query.rows_params,
        )
        if rows:
            total = int(rows[0][0])
            found = [tuple(r)[1:] for r in rows]
        else:
            total = int(await self._fetchval(query.count_sql, *query.count_params))
            found = []
        return paging.to_page(found, total, link, make)

    # -- writes --------------------------------------------------------------------------------
    async def _write(
        self, fn: Callable[[asyncpg.Connection], Awaitable[_R]], key: Any = None
    ) -> _R:
        """Run ``fn`` in a group-committed transaction on the lane of ``key`` (a device id, to
        keep one device's writes in order); its result once committed."""
        if self._lanes is None:
            raise RuntimeError("PostgresStore is not open")
        result: _R = await self._lanes.write(fn, key)
        return result

    async def _transaction(self, fn: Callable[[asyncpg.Connection], Awaitable[_R]]) -> _R:
        """Run ``fn`` in a transaction of its own on a pooled connection."""
        try:
            async with self._readers.acquire() as conn, conn.transaction():
                return await fn(conn)
        except Exception as exc:
            raise translate(exc) from exc

    @contextlib.asynccontextmanager
    async def _queueing(self) -> AsyncIterator[Lanes]:
        """Around the part of a write before it is queued on a lane (resolving key ids):
        close() waits for every such part to end, so that it commits writes already called."""
        if self._lanes is None:
            raise RuntimeError("PostgresStore is not open")
        self._preparing += 1
        self._prepared.clear()
        try:
            yield self._lanes
        finally:
            self._preparing -= 1
            if not self._preparing:
                self._prepared.set()

    # -- keys ----------------------------------------------------------------------------------
    async def _key_ids(self, keys: Iterable[str]) -> dict[str, int]:
        """The ids of these key names, allocated when new (committed before they are used)."""
        known = self._keys
        missing = sorted({k for k in keys if k not in known})
        if missing:
            rows = await self._fetch(
                "SELECT key, key_id FROM key_dictionary WHERE key = ANY($1::text[])", missing
            )
            known.update((r[0], r[1]) for r in rows)
            new = [k for k in missing if k not in known]
            if new:
                # In key order, so two nodes adding the same keys lock them in one order; DO
                # UPDATE (not NOTHING) returns the id another node committed meanwhile too.
                rows = await self._fetch(
                    "INSERT INTO key_dictionary AS d (key) "
                    "SELECT k FROM unnest($1::text[]) AS k ORDER BY k "
                    "ON CONFLICT (key) DO UPDATE SET key = d.key RETURNING key, key_id",
                    new,
                )
                known.update((r[0], r[1]) for r in rows)
        return known

    async def _find_key_ids(self, keys: Iterable[str]) -> dict[str, int]:
        """The ids of those of these keys that exist (none are created)."""
        known = self._keys
        missing = sorted({k for k in keys if k not in known})
        if missing:
            rows = await self._fetch(
                "SELECT key, key_id FROM key_dictionary WHERE key = ANY($1::text[])", missing
            )
            known.update((r[0], r[1]) for r in rows)
        return known
