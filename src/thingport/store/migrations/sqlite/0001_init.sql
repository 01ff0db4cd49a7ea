-- thingport SQLite schema, version 1.
--
-- Entity tables key rows by UUID text, as the API exposes them. The time-series and attribute
-- tables are the hot ones: they use compact integer keys instead (the device's `seq` and an id
-- from key_dictionary) so that every row and index entry stays small. Values live in one
-- untyped column `v` (BLOB affinity, so SQLite stores exactly what it is given: INTEGER for
-- LONG and BOOLEAN, REAL for DOUBLE, TEXT for STRING and JSON) and `type` keeps the DataType:
-- 1 BOOLEAN, 2 LONG, 3 DOUBLE, 4 STRING, 5 JSON. Attribute scopes are 1 CLIENT, 2 SERVER,
-- 3 SHARED (ThingsBoard's own numbering).
--
-- Migrations run inside one transaction each; do not put PRAGMAs that cannot run in a
-- transaction (journal_mode, foreign_keys) here.

CREATE TABLE tenant (
    id              TEXT PRIMARY KEY,
    title           TEXT NOT NULL,
    created_time    INTEGER NOT NULL,
    email           TEXT,
    additional_info TEXT
);

CREATE TABLE customer (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenant (id),
    title           TEXT NOT NULL,
    created_time    INTEGER NOT NULL,
    email           TEXT,
    additional_info TEXT,
    UNIQUE (tenant_id, title)
);

CREATE TABLE user (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT REFERENCES tenant (id),
    customer_id     TEXT REFERENCES customer (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    -- Python's str.lower() of email: SQLite's own lower() and NOCASE only fold ASCII.
    email_lower     TEXT NOT NULL UNIQUE,
    authority       TEXT NOT NULL,
    created_time    INTEGER NOT NULL,
    first_name      TEXT,
    last_name       TEXT,
    additional_info TEXT
);
CREATE INDEX user_tenant_customer ON user (tenant_id, customer_id);
CREATE INDEX user_customer ON user (customer_id);

CREATE TABLE user_credentials (
    user_id        TEXT PRIMARY KEY REFERENCES user (id) ON DELETE CASCADE,
    password_hash  TEXT,
    activate_token TEXT UNIQUE,
    enabled        INTEGER NOT NULL
);

CREATE TABLE device_profile (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenant (id),
    name                 TEXT NOT NULL,
    created_time         INTEGER NOT NULL,
    is_default           INTEGER NOT NULL,
    description          TEXT,
    type                 TEXT NOT NULL,
    transport_type       TEXT NOT NULL,
    provision_type       TEXT NOT NULL,
    provision_device_key TEXT UNIQUE,
    profile_data         TEXT NOT NULL,
    firmware_id          TEXT,
    software_id          TEXT,
    UNIQUE (tenant_id, name)
);
-- At most one default profile per tenant.
CREATE UNIQUE INDEX device_profile_one_default ON device_profile (tenant_id) WHERE is_default;

CREATE TABLE device (
    -- AUTOINCREMENT so that a deleted device's seq is never reused: the writer caches
    -- UUID -> seq, and a stale entry must never point at another device's series.
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    tenant_id         TEXT NOT NULL REFERENCES tenant (id),
    customer_id       TEXT REFERENCES customer (id) ON DELETE SET NULL,
    name              TEXT NOT NULL,
    type              TEXT NOT NULL,
    label             TEXT,
    device_profile_id TEXT NOT NULL REFERENCES device_profile (id),
    created_time      INTEGER NOT NULL,
    additional_info   TEXT,
    firmware_id       TEXT,
    software_id       TEXT,
    UNIQUE (tenant_id, name)
);
CREATE INDEX device_customer ON device (customer_id);
CREATE INDEX device_profile_ref ON device (device_profile_id);
CREATE INDEX device_tenant_type ON device (tenant_id, type);

CREATE TABLE device_credentials (
    id                TEXT PRIMARY KEY,
    device_id         TEXT NOT NULL UNIQUE REFERENCES device (id) ON DELETE CASCADE,
    created_time      INTEGER NOT NULL,
    credentials_type  TEXT NOT NULL,
    credentials_id    TEXT NOT NULL UNIQUE,
    credentials_value TEXT
);

CREATE TABLE key_dictionary (
    key    TEXT NOT NULL UNIQUE,
    key_id INTEGER PRIMARY KEY
);

-- No foreign keys on the three tables below: an FK check would cost a parent lookup per
-- sample on the hottest path. The store checks that the device exists before writing, and
-- delete_device removes the rows explicitly.
CREATE TABLE ts_kv (
    device INTEGER NOT NULL,
    key    INTEGER NOT NULL,
    ts     INTEGER NOT NULL,
    type   INTEGER NOT NULL,
    v,
    PRIMARY KEY (device, key, ts)
) WITHOUT ROWID;

CREATE TABLE ts_kv_latest (
    device INTEGER NOT NULL,
    key    INTEGER NOT NULL,
    ts     INTEGER NOT NULL,
    type   INTEGER NOT NULL,
    v,
    PRIMARY KEY (device, key)
) WITHOUT ROWID;

CREATE TABLE attribute_kv (
    device         INTEGER NOT NULL,
    scope          INTEGER NOT NULL,
    key            INTEGER NOT NULL,
    last_update_ts INTEGER NOT NULL,
    type           INTEGER NOT NULL,
    v,
    PRIMARY KEY (device, scope, key)
) WITHOUT ROWID;
