-- Per-minute rollups of ts_kv, so that an aggregated read of a long range reads one row a
-- minute instead of one a sample (store/sqlite/rollups.py keeps them exact). g is the granule,
-- floor(ts / 60000). Of the values in it: n of every type, nn LONG or DOUBLE, nd DOUBLE; the
-- LONG sum in two halves that cannot overflow (it is lh * 2^32 + ll exactly), the DOUBLE sum,
-- and the least and greatest LONG or DOUBLE value (NULL without one).
CREATE TABLE ts_kv_rollup (
    device INTEGER NOT NULL,
    key    INTEGER NOT NULL,
    g      INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    nn     INTEGER NOT NULL,
    nd     INTEGER NOT NULL,
    lh     INTEGER NOT NULL,
    ll     INTEGER NOT NULL,
    ds     REAL NOT NULL,
    lo,
    hi,
    PRIMARY KEY (device, key, g)
) WITHOUT ROWID;

-- Granules whose rollup row may not match ts_kv: a merge wrote into them. Reads take these from
-- ts_kv; the writer rolls them up once they are a minute old (no more samples expected).
-- By granule too, so that the writer finds the settled ones first.
CREATE TABLE ts_kv_dirty (
    device INTEGER NOT NULL,
    key    INTEGER NOT NULL,
    g      INTEGER NOT NULL,
    PRIMARY KEY (device, key, g)
) WITHOUT ROWID;
CREATE INDEX ts_kv_dirty_by_granule ON ts_kv_dirty (g);

-- A deleted device's seq is never reused, but its rollups would still take space.
CREATE TRIGGER device_rollups_delete AFTER DELETE ON device
BEGIN
    DELETE FROM ts_kv_rollup WHERE device = old.seq;
    DELETE FROM ts_kv_dirty WHERE device = old.seq;
END;

-- What a database of an earlier version already holds (the same aggregates as rollups.py).
INSERT INTO ts_kv_rollup (device, key, g, n, nn, nd, lh, ll, ds, lo, hi)
SELECT device, key, ts / 60000 - (ts % 60000 < 0) AS g, count(*),
       sum(type IN (2, 3)), sum(type = 3),
       sum(CASE WHEN type = 2 THEN v >> 32 ELSE 0 END),
       sum(CASE WHEN type = 2 THEN v & 4294967295 ELSE 0 END),
       total(CASE WHEN type = 3 THEN v END),
       min(CASE WHEN type IN (2, 3) THEN v END), max(CASE WHEN type IN (2, 3) THEN v END)
FROM ts_kv GROUP BY device, key, g;
