-- Tenant profiles (ThingsBoard's): system-wide, one of them the default; a tenant names its
-- profile (NULL: the default one). profile_data is kept as the caller gave it.
CREATE TABLE tenant_profile (
    id                      uuid PRIMARY KEY,
    name                    text NOT NULL UNIQUE,
    created_time            bigint NOT NULL,
    is_default              boolean NOT NULL DEFAULT false,
    description             text,
    isolated_tb_rule_engine boolean NOT NULL DEFAULT false,
    profile_data            text NOT NULL
);

-- Named as store.shared.errors.constraint_name names the key, for its Conflict message.
CREATE UNIQUE INDEX tenant_profile_is_default_key ON tenant_profile (is_default) WHERE is_default;

ALTER TABLE tenant ADD COLUMN tenant_profile_id uuid REFERENCES tenant_profile (id);

CREATE INDEX tenant_profile_ref ON tenant (tenant_profile_id);
