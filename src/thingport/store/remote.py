"""A SQLite store shared by worker processes: the primary process owns it, the workers reach it
through ``RemoteStore``.

SQLite allows one writer per file, and the SQLite store keeps state that only its writer may
know (the key dictionary, the sample log's size, uploads in progress). So with several workers
the primary opens the one real store and serves it (``serve_store``, over the primary's
``ipc.CallServer``); each worker's ``RemoteStore`` is a ``Store`` whose every method is a call
to it. A worker answers a write only after the primary's store has committed it, so a 200 still
means durable; the calls of many requests travel together (``thingport.ipc``) and still share
one commit. ``save_telemetry``, the call of every device request, travels as plain rows that
the primary queues for its writer at once.

PostgreSQL needs none of this: every worker opens its own pool and writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from thingport import ipc
from thingport.domain.model import KvEntry
from thingport.errors import StoreUnavailable
from thingport.store.base import Store
from thingport.store.sqlite.telemetry import plain_rows

if TYPE_CHECKING:
    from thingport.store.sqlite import SQLiteStore

#: The store's name on the primary's call server.
TARGET = "store"
#: ``save_telemetry`` as (device id bytes, plain rows).
SAVE_ROWS = "save_rows"
_LIFECYCLE = frozenset({"open", "close", "ping"})
#: The methods a ``RemoteStore`` forwards: every coroutine of the contract but the lifecycle.
FORWARDED = frozenset(
    name for name in dir(Store)
    if not name.startswith("_") and name not in _LIFECYCLE
    and asyncio.iscoroutinefunction(getattr(Store, name))
) | {"ping"}


def primary_gone() -> StoreUnavailable:
    return StoreUnavailable("the primary process holding the store is gone")


def serve_store(server: ipc.CallServer, store: SQLiteStore) -> None:
    """Let the workers call ``store`` through ``server``."""
    server.serve(TARGET, store, FORWARDED)
    server.serve_quick(TARGET, SAVE_ROWS, lambda device, rows: store.queue_rows(
        UUID(bytes=device), rows))


class RemoteStore(Store):
    """The primary's store, seen from a worker: every call is answered by the primary."""

    def __init__(self, primary: ipc.CallClient) -> None:
        self.primary = primary

    async def open(self, *, create: bool = True) -> None:
        """Connect to the primary, which has opened (and created or migrated) the store."""
        try:
            await self.primary.connect()
        except OSError as exc:
            raise StoreUnavailable(f"cannot reach the primary process's store: {exc}") from None

    async def close(self) -> None:
        self.primary.close()

    async def save_telemetry(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """Sent as plain rows, which the primary queues for its writer at once (the one
        call every device request makes: it skips the generic call's task)."""
        rows = await plain_rows(batch)
        if rows:
            await self.primary.call(TARGET, SAVE_ROWS, device_id.bytes, rows)


def _forwarding(name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def forward(self: RemoteStore, *args: Any, **kwargs: Any) -> Any:
        return await self.primary.call(TARGET, name, *args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = getattr(Store, name).__doc__
    return forward


for _name in FORWARDED - set(vars(RemoteStore)):
    setattr(RemoteStore, _name, _forwarding(_name))
RemoteStore.__abstractmethods__ = frozenset()


def remote_store(primary: ipc.CallClient) -> RemoteStore:
    """A ``RemoteStore`` calling the primary through ``primary`` (its methods are made above,
    where a type checker does not look)."""
    factory: Any = RemoteStore
    return factory(primary)  # type: ignore[no-any-return]
