"""What every store backend shares, free of any SQL dialect or driver.

- ``values``: ThingsBoard's value types, as SQLite's type codes and as PostgreSQL's typed
  columns (bool_v, str_v, long_v, dbl_v, json_v); attribute scope ids.
- ``rows``: the SELECT column lists of each table and row -> model mappers that accept either
  driver's values (UUIDs as text or ``uuid.UUID``, JSON as text or decoded, booleans as 0/1 or
  bool).
- ``params``: model -> parameter tuples in the same column orders, with the UUID conversion the
  driver needs.
- ``paging``: each listing's searchable and sortable columns and the builder of its count and
  page queries for a placeholder style (``?`` or ``$n``); a total count -> ``Page``.
- ``errors``: a violated unique key or constraint name -> ``Conflict`` with ThingsBoard's
  message, and the domain errors' other shared messages.
- ``migrations``: numbered ``NNNN_name.sql`` files per dialect, statement splitting, and the
  "database newer than this code" check.

Nothing here imports a driver or a backend; backends import from here, never the reverse.
"""
