"""The PostgreSQL store (``pip install 'thingport[postgres]'``): asyncpg, group commit per node,
ThingsBoard's time-series schema with time partitions.

Modules by aggregate: ``entities``, ``device_info``, ``telemetry``, ``attributes``, ``commands``
(RPCs, claims), ``ota``; their plumbing in ``core`` (connections, reads, key ids, errors),
``batcher`` (the write lanes and group commit), ``bulk`` (the batch's one bulk statement),
``uploads`` (saves too large for a lane), ``values`` (typed value columns),
``migrate`` (numbered migrations under an advisory lock) and ``partitions`` (time partitions
and retention); ``store`` puts them together as ``PostgresStore``.

Importing this package imports asyncpg only when a store connects, so that it can be
imported (for typing, say) where asyncpg is not installed.
"""

from thingport.store.postgresql.store import DEFAULT_POOL_SIZE, PostgresStore

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore"]
