"""What a write operation sees inside the writer's transaction: its connection and id caches.

Time series and attributes use integer keys: a device's ``seq`` (its rowid, never reused) and a
``key_dictionary`` id per key name. The writer thread owns the authoritative caches of both maps
(they may hold ids from its open transaction). After each COMMIT it publishes the newly committed
ids to a second pair of maps that ``save_telemetry`` reads on the event loop to build finished
rows, so the writer only concatenates them; the writer still checks each device, since a
published id may belong to a device deleted since. Readers resolve ids inside their SQL
(``DEVICE_SEQ``, ``KEY_ID``).

One process per database file: the writer's caches assume nobody else writes to it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final, cast
from uuid import UUID

from thingport.lru import LruCache
from thingport.store.shared.errors import device_not_found
from thingport.store.sqlite.sample_log import CHUNK_ROWS, first_seq, merge_range

#: Devices whose ``seq`` the writer remembers (the least recently used are forgotten first).
_DEVICE_CACHE_LIMIT: Final = 200_000

# Resolves a device UUID inside the query, so readers need no cache of their own.
DEVICE_SEQ: Final = "(SELECT seq FROM device WHERE id = ?)"
KEY_ID: Final = "(SELECT key_id FROM key_dictionary WHERE key = ?)"


@dataclass(slots=True)
class Released:
    """An upload whose last slice committed (it was acknowledged): its held rows, not merged
    yet, are ``first..last`` of ts_kv_held."""

    id: int
    first: int
    last: int
    large: bool


class Tx:
    """What a write operation sees: the writer's connection and its id caches.

    Only the writer thread touches an instance, so the caches need no lock. They may hold ids
    of rows written earlier in the current, uncommitted transaction; the writer forgets what a
    rolled-back savepoint or transaction created.
    """

    def __init__(
        self, conn: sqlite3.Connection, published_keys: dict[str, int],
        published_devices: dict[UUID, int],
    ) -> None:
        self.conn = conn
        self.keys: dict[str, int] = {}
        #: A device forgotten here is unpublished too, so that the published map stays no
        #: larger than this one and a device used again is published again.
        self.devices: LruCache[UUID, int] = LruCache(_DEVICE_CACHE_LIMIT, self._unpublish)
        #: Samples appended to ts_kv_log since the last merge, and the bytes of their large
        #: values (they drive when to merge; reads do not rely on them: they merge whatever is
        #: there). ``log_large``: the log may hold marked large values.
        self.log_rows = 0
        self.log_bytes = 0
        self.log_large = False
        #: The released upload still (partly) in ts_kv_held. While there is one, the log is
        #: not merged: every sample in it was logged after the upload was acknowledged.
        self.released: Released | None = None
        #: Every (device, key) whose latest value may be out of line (``upsert_latest``); it
        #: only grows (an entry that is not out of line any more costs one read), so a rolled
        #: back transaction cannot make it miss one.
        self.latest_refs: set[tuple[int, int]] = set()
        #: Keys inserted by the running operation, forgotten if its savepoint rolls back.
        self.new_keys: list[str] = []
        # Shared with the event loop, which only reads them; written here after COMMIT only.
        self._published_keys = published_keys
        self._published_devices = published_devices
        #: Ids learnt in the open transaction, published once it commits.
        self._tx_keys: list[str] = []
        self._tx_devices: list[UUID] = []

    def load_keys(self) -> None:
        self.keys = dict(self.conn.execute("SELECT key, key_id FROM key_dictionary"))
        self._published_keys.update(self.keys)
        self.latest_refs.update(self.conn.execute(
            "SELECT device, key FROM ts_kv_latest WHERE type & 16"))

    def merge_step(self) -> bool:
        """Merge one bounded chunk, within the open transaction: of the released upload if
        there is one, else of the log. Whether more is left to merge."""
        conn = self.conn
        released = self.released
        if released is not None:
            lo = first_seq(conn, "ts_kv_held", released.first, released.last)
            if lo is not None:
                merge_range(conn, "ts_kv_held", lo, min(released.last, lo + CHUNK_ROWS - 1),
                            released.large)
                return True
            conn.execute("DELETE FROM ts_kv_upload WHERE id = ?", (released.id,))
            self.released = None
        lo = first_seq(conn, "ts_kv_log")
        if lo is None:
            self.log_rows = self.log_bytes = 0
            self.log_large = False
            return False
        last = merge_range(conn, "ts_kv_log", lo, lo + CHUNK_ROWS - 1, self.log_large)
        if first_seq(conn, "ts_kv_log") is None:
            self.log_rows = self.log_bytes = 0
            self.log_large = False
            return False
        self.log_rows = max(0, self.log_rows - (last - lo + 1))
        return True

    def merge_log(self) -> None:
        """Merge every released upload row and logged sample into ts_kv, within the open
        transaction (callers that can wait merge first in bounded steps)."""
        while self.merge_step():
            pass

    def forget_all(self) -> None:
        """Drop every cached id: the transaction that may have created them rolled back."""
        self.keys.clear()
        self.devices.clear()
        self.new_keys.clear()
        self._tx_keys.clear()
        self._tx_devices.clear()
        self._published_devices.clear()
        self.load_keys()

    def publish(self) -> None:
        """Hand the ids of a committed transaction to the event loop."""
        for key in self._tx_keys:
            kid = self.keys.get(key)
            if kid is not None:  # else its savepoint rolled back
                self._published_keys[key] = kid
        for device_id in self._tx_devices:
            seq = self.devices.get(device_id)
            if seq is not None:
                self._published_devices[device_id] = seq
        self._tx_keys.clear()
        self._tx_devices.clear()

    def device_seq(self, device_id: UUID) -> int:
        """The device's integer key; NotFound when there is no such device."""
        seq = self.devices.get(device_id)
        if seq is None:
            row = self.conn.execute(
                "SELECT seq FROM device WHERE id = ?", (str(device_id),)
            ).fetchone()
            if row is None:
                raise device_not_found(device_id)
            seq = row[0]
            self.devices[device_id] = seq
            self._tx_devices.append(device_id)
        return seq

    def forget_device(self, device_id: UUID) -> None:
        """Drop a device that is being deleted from both caches."""
        self.devices.pop(device_id)
        self._published_devices.pop(device_id, None)

    def _unpublish(self, device_id: UUID, seq: int) -> None:
        # A plain dict the event loop reads: popping one key is atomic under the GIL.
        self._published_devices.pop(device_id, None)

    def key_id(self, key: str) -> int:
        """The key's id, added to the dictionary when new."""
        kid = self.keys.get(key)
        if kid is None:
            kid = self.find_key_id(key)
            if kid is None:
                cur = self.conn.execute("INSERT INTO key_dictionary (key) VALUES (?)", (key,))
                kid = cast(int, cur.lastrowid)
                self.keys[key] = kid
                self.new_keys.append(key)
                self._tx_keys.append(key)
        return kid

    def find_key_id(self, key: str) -> int | None:
        """The key's id, or None when no value ever used it."""
        kid = self.keys.get(key)
        if kid is None:
            row = self.conn.execute(
                "SELECT key_id FROM key_dictionary WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                kid = self.keys[key] = row[0]
                self._tx_keys.append(key)
        return kid

