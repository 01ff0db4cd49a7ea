-- Account lockout (ThingsBoard's maxFailedLoginAttempts): consecutive wrong passwords per user,
-- and since when the security policy has locked the account (NULL: not locked by it; an
-- account an administrator disabled has enabled = 0 and no locked_at, so no delay lifts it).
ALTER TABLE user_credentials ADD COLUMN failed_login_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_credentials ADD COLUMN locked_at INTEGER;

-- System-wide settings as ThingsBoard keeps them: one JSON object per key (securitySettings).
CREATE TABLE admin_settings (
    key        TEXT PRIMARY KEY,
    json_value TEXT NOT NULL
);
