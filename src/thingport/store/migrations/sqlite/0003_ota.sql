-- thingport SQLite schema, version 3: OTA packages (firmware and software) and their bytes.
--
-- A package's bytes are kept in fixed 1 MiB chunks (ota_package_chunk), so that neither an
-- upload nor a download ever holds a whole image in memory, and a range read touches only the
-- chunks that cover it. Chunks belong to an upload (ota_data), not directly to the package: an
-- upload is written over many transactions and stays invisible until one last transaction
-- points the package's data_id at it. A failed or abandoned upload is deleted with its
-- ota_data row; the chunks go with it (cascade).

CREATE TABLE ota_package (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenant (id),
    -- ThingsBoard deletes a profile's packages with the profile.
    device_profile_id  TEXT NOT NULL REFERENCES device_profile (id) ON DELETE CASCADE,
    type               TEXT NOT NULL,
    title              TEXT NOT NULL,
    version            TEXT NOT NULL,
    tag                TEXT,
    url                TEXT,
    created_time       INTEGER NOT NULL,
    file_name          TEXT,
    content_type       TEXT,
    checksum_algorithm TEXT,
    checksum           TEXT,
    data_size          INTEGER,
    additional_info    TEXT,
    -- The committed upload (ota_data.id); NULL until the bytes are uploaded, and for URL
    -- packages. No foreign key: the two tables point at each other.
    data_id            TEXT,
    UNIQUE (device_profile_id, type, title, version)
);
CREATE INDEX ota_package_tenant ON ota_package (tenant_id, created_time);

-- One row per upload attempt; the chunks hang off it.
CREATE TABLE ota_data (
    id           TEXT PRIMARY KEY,
    package_id   TEXT NOT NULL REFERENCES ota_package (id) ON DELETE CASCADE,
    created_time INTEGER NOT NULL
);
CREATE INDEX ota_data_package ON ota_data (package_id);
CREATE INDEX ota_data_created ON ota_data (created_time);

-- Chunk n holds bytes [n * 1 MiB, (n + 1) * 1 MiB) of its upload; only the last may be shorter.
-- A rowid table (not WITHOUT ROWID): its rows are large, and SQLite keeps large rows best in
-- rowid tables, with the primary key as a separate small index.
CREATE TABLE ota_package_chunk (
    data_id TEXT NOT NULL REFERENCES ota_data (id) ON DELETE CASCADE,
    n       INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (data_id, n)
);

-- Deleting a package checks who still uses it; a profile's change of package visits its
-- devices without one of their own. Few devices have an assignment: partial indexes stay small.
CREATE INDEX device_firmware ON device (firmware_id) WHERE firmware_id IS NOT NULL;
CREATE INDEX device_software ON device (software_id) WHERE software_id IS NOT NULL;
CREATE INDEX device_profile_firmware ON device_profile (firmware_id) WHERE firmware_id IS NOT NULL;
CREATE INDEX device_profile_software ON device_profile (software_id) WHERE software_id IS NOT NULL;
