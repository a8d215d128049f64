-- 0001_init: the whole model. Every table is keyed by tenant; tables are STRICT so a value
-- of the wrong type is refused instead of stored. Lists are JSON text (serde_json).

-- Token signing keys are global: a key signs tokens for every tenant.
CREATE TABLE signing_keys (
    kid         TEXT NOT NULL PRIMARY KEY,
    private_pem TEXT NOT NULL,
    -- RFC 3339, UTC, nanoseconds, fixed width: sorts chronologically as text.
    created_at  TEXT NOT NULL
) STRICT;

-- --- directory (from the tenant fixture) -------------------------------------------------

CREATE TABLE tenants (
    tenant_id    TEXT NOT NULL PRIMARY KEY,
    display_name TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL,
    user_principal_name TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    password            TEXT,
    roles               TEXT NOT NULL,          -- JSON array of strings
    PRIMARY KEY (tenant_id, id)
) STRICT;
-- UPNs are case-insensitive (ASCII folding, like SQLite's lower()); lookups use the same expression.
CREATE UNIQUE INDEX users_upn ON users (tenant_id, lower(user_principal_name));

CREATE TABLE chats (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    chat_type    TEXT NOT NULL,
    topic        TEXT,
    members      TEXT NOT NULL,                 -- JSON array of user ids
    join_web_url TEXT,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE teams (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    owners       TEXT NOT NULL,                 -- JSON array of user ids
    members      TEXT NOT NULL,                 -- JSON array of user ids
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE applications (
    tenant_id               TEXT NOT NULL,
    app_id                  TEXT NOT NULL,
    display_name            TEXT NOT NULL,
    client_secret           TEXT NOT NULL,
    application_permissions TEXT NOT NULL,      -- JSON array of strings
    delegated_permissions   TEXT NOT NULL,      -- JSON array of strings
    selected_teams_apps     TEXT NOT NULL,      -- JSON array of manifest ids
    PRIMARY KEY (tenant_id, app_id)
) STRICT;

-- --- catalog -----------------------------------------------------------------------------

CREATE TABLE apps (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL,
    external_id         TEXT,                   -- manifest id; NULL for store apps
    distribution_method TEXT NOT NULL
        CHECK (distribution_method IN ('store', 'organization', 'sideloaded')),
    PRIMARY KEY (tenant_id, id)
) STRICT;

-- Manifest ids are GUIDs: unique per tenant whatever their letter case. NULLs are distinct in
-- a unique index: any number of store apps per tenant.
CREATE UNIQUE INDEX apps_external_id ON apps (tenant_id, lower(external_id));

CREATE TABLE definitions (
    tenant_id            TEXT NOT NULL,
    app_id               TEXT NOT NULL,
    version              TEXT NOT NULL,
    version_key          TEXT NOT NULL,         -- teamsapps_core::version::sort_key(version)
    state                TEXT NOT NULL CHECK (state IN ('submitted', 'published', 'rejected')),
    display_name         TEXT NOT NULL,
    short_description    TEXT NOT NULL,
    description          TEXT NOT NULL,
    last_modified        TEXT,                  -- RFC 3339, UTC, nanoseconds
    created_by           TEXT,
    client_app_id        TEXT,
    required_permissions TEXT NOT NULL,         -- JSON array of {permissionValue, permissionType}
    bot_id               TEXT,
    allowed_team         INTEGER NOT NULL CHECK (allowed_team IN (0, 1)),
    allowed_group_chat   INTEGER NOT NULL CHECK (allowed_group_chat IN (0, 1)),
    allowed_personal     INTEGER NOT NULL CHECK (allowed_personal IN (0, 1)),
    etag                 TEXT NOT NULL,
    PRIMARY KEY (tenant_id, app_id, version),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
) STRICT;

-- --- installations -----------------------------------------------------------------------

-- The big table: kept narrow, and WITHOUT ROWID so the row lives in the primary-key b-tree
-- (no second copy of the key). The foreign key makes an installation always name an
-- existing definition; deleting the definition (or its app) deletes the installation.
CREATE TABLE installations (
    tenant_id  TEXT NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('user', 'chat', 'team')),
    scope_id   TEXT NOT NULL,
    app_id     TEXT NOT NULL,
    version    TEXT NOT NULL,
    consented  TEXT,                            -- JSON array like required_permissions; NULL = nothing
    PRIMARY KEY (tenant_id, scope_kind, scope_id, app_id),
    FOREIGN KEY (tenant_id, app_id, version)
        REFERENCES definitions (tenant_id, app_id, version) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Serves the cascade from definitions (and apps) without scanning installations.
CREATE INDEX installations_by_definition ON installations (tenant_id, app_id, version);
