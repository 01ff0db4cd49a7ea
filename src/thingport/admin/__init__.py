"""Local administration: the CLI's store commands, run by whichever process has the store.

A SQLite store has one process (``store.sqlite.lock``). When that is a server, the CLI sends
its command over a Unix socket beside the database file, which only the store's owner can open
(mode 0600, in the data directory); otherwise the CLI opens the store and runs it itself.
"""

from __future__ import annotations

from typing import Final

#: What follows the database file's name to make the control socket's.
SOCKET_SUFFIX: Final = ".sock"


def socket_path(database: str) -> str:
    """The control socket of the SQLite store ``database``."""
    return database + SOCKET_SUFFIX
