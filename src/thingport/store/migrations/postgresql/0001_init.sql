-- thingport PostgreSQL schema, version 1: the SQLite schema's final state (0001-0005) in one
-- file, with ThingsBoard's own layout for time series and attributes.
--
-- Entity tables have the SQLite tables' column names (so that one set of row mappers serves
-- both), with native types: uuid ids, bigint ms times, boolean flags. The users table is
-- ThingsBoard's `tb_user`, since `user` is a reserved word here.
--
-- Time series, latest values and attributes follow ThingsBoard's schema-ts-psql.sql and
-- schema-entities.sql: a value is one of bool_v, str_v, long_v, dbl_v, json_v (the others NULL),
-- keys are key_dictionary ids shared by time series and attributes, attribute scopes are
-- 1 CLIENT, 2 SERVER, 3 SHARED. Two thingport extras, both invisible to a ThingsBoard reader:
-- a STRING holding NUL characters (which text cannot hold) keeps str_v with each NUL replaced by
-- U+FFFD, as ThingsBoard stores it, and its exact value JSON-encoded in json_v; and pending
-- shared-attribute changes live in attribute_change.
--
-- Every time-series and attribute primary key starts with the device id and nothing references
-- these tables, so they can be distributed by device (Citus: create_distributed_table(...,
-- 'entity_id')) with no change. No foreign keys on them: a parent lookup per sample would cost
-- more than the store's own check (one locking read of the batch's devices per transaction).
--
-- Each migration runs in one transaction, under the migration advisory lock.

CREATE TABLE tenant (
    id              uuid PRIMARY KEY,
    title           text NOT NULL,
    created_time    bigint NOT NULL,
    email           text,
    additional_info text
);

CREATE TABLE customer (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenant (id),
    title           text NOT NULL,
    created_time    bigint NOT NULL,
    email           text,
    additional_info text,
    CONSTRAINT customer_tenant_id_title_key UNIQUE (tenant_id, title)
);

CREATE TABLE tb_user (
    id              uuid PRIMARY KEY,
    tenant_id       uuid REFERENCES tenant (id),
    customer_id     uuid REFERENCES customer (id) ON DELETE CASCADE,
    email           text NOT NULL,
    -- Python's str.lower() of email, as in SQLite, so both backends fold the same way.
    -- Named as the shared error mapping names the key of `user`.
    email_lower     text NOT NULL CONSTRAINT user_email_lower_key UNIQUE,
    authority       text NOT NULL,
    created_time    bigint NOT NULL,
    first_name      text,
    last_name       text,
    additional_info text
);
CREATE INDEX tb_user_tenant_customer ON tb_user (tenant_id, customer_id);
CREATE INDEX tb_user_customer ON tb_user (customer_id);

CREATE TABLE user_credentials (
    user_id        uuid PRIMARY KEY REFERENCES tb_user (id) ON DELETE CASCADE,
    password_hash  text,
    activate_token text CONSTRAINT user_credentials_activate_token_key UNIQUE,
    enabled        boolean NOT NULL
);

CREATE TABLE device_profile (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenant (id),
    name                 text NOT NULL,
    created_time         bigint NOT NULL,
    is_default           boolean NOT NULL,
    description          text,
    type                 text NOT NULL,
    transport_type       text NOT NULL,
    provision_type       text NOT NULL,
    provision_device_key text CONSTRAINT device_profile_provision_device_key_key UNIQUE,
    -- jsonb, as ThingsBoard keeps it.
    profile_data         jsonb NOT NULL,
    firmware_id          uuid,
    software_id          uuid,
    CONSTRAINT device_profile_tenant_id_name_key UNIQUE (tenant_id, name)
);
-- At most one default profile per tenant.
CREATE UNIQUE INDEX device_profile_one_default ON device_profile (tenant_id) WHERE is_default;

CREATE TABLE device (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenant (id),
    customer_id       uuid REFERENCES customer (id) ON DELETE SET NULL,
    name              text NOT NULL,
    type              text NOT NULL,
    label             text,
    device_profile_id uuid NOT NULL REFERENCES device_profile (id),
    created_time      bigint NOT NULL,
    additional_info   text,
    firmware_id       uuid,
    software_id       uuid,
    -- The last request id handed to an RPC of the device (see the SQLite schema's 0002): on the
    -- device row, so deleting RPCs never frees an id, and bumped with a row lock, so two nodes
    -- never hand out the same one.
    rpc_seq           bigint NOT NULL DEFAULT 0,
    CONSTRAINT device_tenant_id_name_key UNIQUE (tenant_id, name)
);
CREATE INDEX device_customer ON device (customer_id);
CREATE INDEX device_profile_ref ON device (device_profile_id);
CREATE INDEX device_tenant_type ON device (tenant_id, type);
CREATE INDEX device_tenant_created ON device (tenant_id, created_time);

CREATE TABLE device_credentials (
    id                uuid PRIMARY KEY,
    device_id         uuid NOT NULL CONSTRAINT device_credentials_device_id_key UNIQUE
                      REFERENCES device (id) ON DELETE CASCADE,
    created_time      bigint NOT NULL,
    credentials_type  text NOT NULL,
    credentials_id    text NOT NULL CONSTRAINT device_credentials_credentials_id_key UNIQUE,
    credentials_value text
);

-- ThingsBoard's key_dictionary (3.7+): one id space for time-series and attribute keys. Ids
-- come from the serial, so nodes allocating at once never clash.
CREATE TABLE key_dictionary (
    -- text, not ThingsBoard's varchar(255): the SQLite store takes longer keys too.
    key    text PRIMARY KEY,
    key_id serial UNIQUE
);

-- History, partitioned by range of ts (ms). The store creates the periods' partitions
-- (ts_kv_yyyy_mm by default, as ThingsBoard names them) ahead of time; anything outside them
-- (a device's clock decades off) lands in the default partition, ThingsBoard's
-- ts_kv_indefinite.
CREATE TABLE ts_kv (
    entity_id uuid NOT NULL,
    key       int NOT NULL,
    ts        bigint NOT NULL,
    bool_v    boolean,
    str_v     varchar(10000000),
    long_v    bigint,
    dbl_v     double precision,
    json_v    json,
    CONSTRAINT ts_kv_pkey PRIMARY KEY (entity_id, key, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE ts_kv_indefinite PARTITION OF ts_kv DEFAULT;

CREATE TABLE ts_kv_latest (
    entity_id uuid NOT NULL,
    key       int NOT NULL,
    ts        bigint NOT NULL,
    bool_v    boolean,
    str_v     varchar(10000000),
    long_v    bigint,
    dbl_v     double precision,
    json_v    json,
    CONSTRAINT ts_kv_latest_pkey PRIMARY KEY (entity_id, key)
);

CREATE TABLE attribute_kv (
    entity_id      uuid NOT NULL,
    attribute_type int NOT NULL,
    attribute_key  int NOT NULL,
    bool_v         boolean,
    str_v          varchar(10000000),
    long_v         bigint,
    dbl_v          double precision,
    json_v         json,
    last_update_ts bigint NOT NULL,
    CONSTRAINT attribute_kv_pkey PRIMARY KEY (entity_id, attribute_type, attribute_key)
);

-- Shared-attribute keys changed since the device last took its changes (SQLite's
-- attribute_change): the last change of a key wins; an update's value is read from
-- attribute_kv when taken.
CREATE TABLE attribute_change (
    entity_id     uuid NOT NULL,
    attribute_key int NOT NULL,
    deleted       boolean NOT NULL,
    ts            bigint NOT NULL,
    CONSTRAINT attribute_change_pkey PRIMARY KEY (entity_id, attribute_key)
);

-- Server-side RPCs; status is RpcStatus's name, params and response JSON texts kept as given.
CREATE TABLE rpc (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    device_id       uuid NOT NULL REFERENCES device (id) ON DELETE CASCADE,
    request_id      bigint NOT NULL,
    created_time    bigint NOT NULL,
    expiration_time bigint NOT NULL,
    method          text NOT NULL,
    params          text NOT NULL,
    oneway          boolean NOT NULL,
    persistent      boolean NOT NULL,
    status          text NOT NULL,
    response        text,
    additional_info text,
    retries         int NOT NULL,
    CONSTRAINT rpc_device_id_request_id_key UNIQUE (device_id, request_id)
);
-- Every RPC poll: the device's oldest QUEUED RPC.
CREATE INDEX rpc_device_status ON rpc (device_id, status, request_id);
-- expire_rpcs (one-way DELIVERED RPCs are done for good and never scanned again).
CREATE INDEX rpc_expiry ON rpc (status, oneway, expiration_time);

CREATE TABLE client_rpc (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL,
    device_id       uuid NOT NULL REFERENCES device (id) ON DELETE CASCADE,
    created_time    bigint NOT NULL,
    expiration_time bigint NOT NULL,
    method          text NOT NULL,
    params          text NOT NULL,
    claimed         boolean NOT NULL,
    response        text,
    -- Order of insertion, for requests created in the same ms (SQLite's rowid).
    seq             bigserial NOT NULL
);
CREATE INDEX client_rpc_device ON client_rpc (device_id, claimed, created_time, seq);
CREATE INDEX client_rpc_expiry ON client_rpc (expiration_time);

-- At most one window per device: put-if-absent while it is open.
CREATE TABLE claim_window (
    device_id       uuid PRIMARY KEY REFERENCES device (id) ON DELETE CASCADE,
    secret_key      text NOT NULL,
    expiration_time bigint NOT NULL
);

-- OTA packages; their bytes in 1 MiB chunks of an upload (ota_data), attached by data_id in one
-- last transaction (see the SQLite schema's 0003).
CREATE TABLE ota_package (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenant (id),
    device_profile_id  uuid NOT NULL REFERENCES device_profile (id) ON DELETE CASCADE,
    type               text NOT NULL,
    title              text NOT NULL,
    version            text NOT NULL,
    tag                text,
    url                text,
    created_time       bigint NOT NULL,
    file_name          text,
    content_type       text,
    checksum_algorithm text,
    checksum           text,
    data_size          bigint,
    additional_info    text,
    data_id            uuid,
    CONSTRAINT ota_package_device_profile_id_type_title_version_key
        UNIQUE (device_profile_id, type, title, version)
);
CREATE INDEX ota_package_tenant ON ota_package (tenant_id, created_time);

CREATE TABLE ota_data (
    id           uuid PRIMARY KEY,
    package_id   uuid NOT NULL REFERENCES ota_package (id) ON DELETE CASCADE,
    created_time bigint NOT NULL
);
CREATE INDEX ota_data_package ON ota_data (package_id);
CREATE INDEX ota_data_created ON ota_data (created_time);

CREATE TABLE ota_package_chunk (
    data_id uuid NOT NULL REFERENCES ota_data (id) ON DELETE CASCADE,
    n       int NOT NULL,
    data    bytea NOT NULL,
    CONSTRAINT ota_package_chunk_pkey PRIMARY KEY (data_id, n)
);
-- Firmware rarely compresses; EXTERNAL (out of line, uncompressed) also lets substring() read
-- only the TOAST pieces a range covers, and length() read no data at all.
ALTER TABLE ota_package_chunk ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE INDEX device_firmware ON device (firmware_id) WHERE firmware_id IS NOT NULL;
CREATE INDEX device_software ON device (software_id) WHERE software_id IS NOT NULL;
CREATE INDEX device_profile_firmware ON device_profile (firmware_id) WHERE firmware_id IS NOT NULL;
CREATE INDEX device_profile_software ON device_profile (software_id) WHERE software_id IS NOT NULL;
