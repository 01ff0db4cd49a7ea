-- New samples are appended here, in commit order, and merged into ts_kv in bulk by the writer
-- (about once a second). ts_kv is clustered by (device, key, ts): writing there directly dirties
-- one page per device per commit, while appending dirties one or two pages for the whole commit.
CREATE TABLE ts_kv_log (
    seq INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    key INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    type INTEGER NOT NULL,
    v
);
