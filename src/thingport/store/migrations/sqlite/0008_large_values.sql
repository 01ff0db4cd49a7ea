-- Large values out of the clustered tables. ts_kv, ts_kv_latest and attribute_kv are WITHOUT
-- ROWID B-trees: a row too big for its page spills to overflow pages, and every comparison on
-- the way to a neighbouring key then reads the whole value (a 10 MB value made each of 20,000
-- nearby inserts read 10 MB). A value longer than a page's share (see large_values.py) lives
-- here instead, and its row holds the blob's id with its type code plus 16. Each blob has one
-- owner row; the triggers drop it with that row, whichever statement removes or replaces it.
-- ts_kv_latest has no update trigger: it is upserted for every sample, and the writer frees a
-- replaced latest blob itself (sample_log.upsert_latest), which costs nothing when no latest
-- value is out of line.
CREATE TABLE kv_blob (
    id INTEGER PRIMARY KEY,
    v
);

CREATE TRIGGER ts_kv_blob_update AFTER UPDATE OF type, v ON ts_kv
WHEN (old.type & 16) AND NOT ((new.type & 16) AND new.v = old.v)
BEGIN DELETE FROM kv_blob WHERE id = old.v; END;
CREATE TRIGGER ts_kv_blob_delete AFTER DELETE ON ts_kv WHEN (old.type & 16)
BEGIN DELETE FROM kv_blob WHERE id = old.v; END;

CREATE TRIGGER ts_kv_latest_blob_delete AFTER DELETE ON ts_kv_latest WHEN (old.type & 16)
BEGIN DELETE FROM kv_blob WHERE id = old.v; END;

CREATE TRIGGER attribute_kv_blob_update AFTER UPDATE OF type, v ON attribute_kv
WHEN (old.type & 16) AND NOT ((new.type & 16) AND new.v = old.v)
BEGIN DELETE FROM kv_blob WHERE id = old.v; END;
CREATE TRIGGER attribute_kv_blob_delete AFTER DELETE ON attribute_kv WHEN (old.type & 16)
BEGIN DELETE FROM kv_blob WHERE id = old.v; END;

-- A request with more samples than one transaction should hold is written in slices, each
-- committed with other writers' operations, into ts_kv_held (the layout of ts_kv_log), where
-- no read and no merge sees them. Its last slice releases it (released = 1, its rows are
-- first_seq..last_seq) in the transaction that answers it; the writer then merges it into
-- ts_kv in bounded chunks before any sample logged after it. Rows of an upload a crash left
-- unreleased are deleted at start: it was never acknowledged.
CREATE TABLE ts_kv_held (
    seq INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    key INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    type INTEGER NOT NULL,
    v
);
CREATE TABLE ts_kv_upload (
    id        INTEGER PRIMARY KEY,
    first_seq INTEGER,
    last_seq  INTEGER,
    released  INTEGER NOT NULL DEFAULT 0
);
