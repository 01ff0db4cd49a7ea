-- Account lockout (ThingsBoard's maxFailedLoginAttempts): consecutive wrong passwords per user,
-- and since when the security policy has locked the account (NULL: not locked by it; an
-- account an administrator disabled has enabled = false and no locked_at, so no delay lifts it).
ALTER TABLE user_credentials ADD COLUMN failed_login_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE user_credentials ADD COLUMN locked_at bigint;

-- System-wide settings as ThingsBoard keeps them: one JSON object per key (securitySettings).
-- Text, not jsonb: the object comes back with its fields as they were given.
CREATE TABLE admin_settings (
    key        text PRIMARY KEY,
    json_value text NOT NULL
);
