-- thingport SQLite schema, version 2: server-side RPCs, client-side RPCs, claim windows, and
-- shared-attribute changes waiting for the device's next attribute-update poll.
--
-- Times are ms since the epoch. Something with an expiration_time is expired at `now` when
-- expiration_time < now (ThingsBoard's own comparison), so it is still valid at that very ms.

-- The last request id handed to an RPC of the device. It lives on the device row, not in the
-- rpc table, so that deleting RPCs never makes an id available again (a device may still
-- answer the old one), and it goes away with the device. Existing devices start at 0, so
-- their first RPC gets id 1.
ALTER TABLE device ADD COLUMN rpc_seq INTEGER NOT NULL DEFAULT 0;

-- status is RpcStatus's name; params and response are JSON texts kept exactly as given.
CREATE TABLE rpc (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    device_id         TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
    request_id        INTEGER NOT NULL,
    created_time      INTEGER NOT NULL,
    expiration_time   INTEGER NOT NULL,
    method            TEXT NOT NULL,
    params            TEXT NOT NULL,
    oneway            INTEGER NOT NULL,
    persistent        INTEGER NOT NULL,
    status            TEXT NOT NULL,
    response          TEXT,
    additional_info   TEXT,
    retries           INTEGER NOT NULL,
    sent_to_open_poll INTEGER NOT NULL,
    -- Also the index for a device's reply (complete_rpc) and for listing a device's RPCs.
    UNIQUE (device_id, request_id)
);
-- Every RPC poll: the device's oldest QUEUED RPC.
CREATE INDEX rpc_device_status ON rpc (device_id, status, request_id);
-- expire_rpcs. `oneway` is in the key so that one-way RPCs left DELIVERED for good (they are
-- done) are never scanned again by the query for two-way DELIVERED ones.
CREATE INDEX rpc_expiry ON rpc (status, oneway, expiration_time);

CREATE TABLE client_rpc (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    device_id       TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
    created_time    INTEGER NOT NULL,
    expiration_time INTEGER NOT NULL,
    method          TEXT NOT NULL,
    params          TEXT NOT NULL,
    claimed         INTEGER NOT NULL,
    response        TEXT
);
-- Every poll of an application for the device's requests: the oldest unclaimed one (ties go
-- to the rowid, that is to the order of insertion, which the index holds too).
CREATE INDEX client_rpc_device ON client_rpc (device_id, claimed, created_time);
CREATE INDEX client_rpc_expiry ON client_rpc (expiration_time);

-- At most one window per device: put-if-absent while it is open.
CREATE TABLE claim_window (
    device_id       TEXT PRIMARY KEY REFERENCES device (id) ON DELETE CASCADE,
    secret_key      TEXT NOT NULL,
    expiration_time INTEGER NOT NULL
);

-- Shared-attribute keys changed since the device last took its changes: one row per key, the
-- last change winning (deleted 1: deleted, 0: updated, its value read from attribute_kv when
-- taken). Keyed like attribute_kv (device seq, key_dictionary id) and, like it, without a
-- foreign key: delete_device removes the rows.
CREATE TABLE attribute_change (
    device  INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (device, key)
) WITHOUT ROWID;
