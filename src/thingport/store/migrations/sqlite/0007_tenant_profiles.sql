-- Tenant profiles (ThingsBoard's): system-wide, one of them the default; a tenant names its
-- profile (NULL: the default one). profile_data is kept as the caller gave it.
CREATE TABLE tenant_profile (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    created_time            INTEGER NOT NULL,
    is_default              INTEGER NOT NULL DEFAULT 0,
    description             TEXT,
    isolated_tb_rule_engine INTEGER NOT NULL DEFAULT 0,
    profile_data            TEXT NOT NULL
);

CREATE UNIQUE INDEX tenant_profile_one_default ON tenant_profile (is_default) WHERE is_default;

ALTER TABLE tenant ADD COLUMN tenant_profile_id TEXT REFERENCES tenant_profile (id);

CREATE INDEX tenant_profile_ref ON tenant (tenant_profile_id);
