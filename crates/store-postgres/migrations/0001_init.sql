-- 0001_init: the whole model, the PostgreSQL twin of the SQLite store's 0001_init. Every table
-- is keyed by tenant.
--
-- Text that is compared, ordered or case-folded is `COLLATE "C"`: byte order and ASCII-only
-- lower(), exactly as SQLite compares text, whatever locale the database was created with (an
-- ICU or glibc locale would order 'a' before 'B' and fold non-ASCII letters in lower()).
-- Timestamps are text: RFC 3339, UTC, nanoseconds, fixed width (teamsapps writes them), so they
-- sort chronologically as text and read back exactly (timestamptz keeps microseconds only).
-- Lists are jsonb.

-- Token signing keys are global: a key signs tokens for every tenant, on every node.
CREATE TABLE signing_keys (
    kid         text COLLATE "C" NOT NULL PRIMARY KEY,
    private_pem text NOT NULL,
    created_at  text COLLATE "C" NOT NULL
);

-- --- directory (from the tenant fixture) -------------------------------------------------

CREATE TABLE tenants (
    tenant_id    text COLLATE "C" NOT NULL PRIMARY KEY,
    display_name text NOT NULL
);

CREATE TABLE users (
    tenant_id           text COLLATE "C" NOT NULL,
    id                  text COLLATE "C" NOT NULL,
    user_principal_name text COLLATE "C" NOT NULL,
    display_name        text NOT NULL,
    password            text,
    roles               jsonb NOT NULL,         -- array of strings
    PRIMARY KEY (tenant_id, id)
);
-- UPNs are case-insensitive (ASCII folding: lower() under the "C" collation); lookups use the
-- same expression.
CREATE UNIQUE INDEX users_upn ON users (tenant_id, lower(user_principal_name));

CREATE TABLE chats (
    tenant_id    text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    chat_type    text NOT NULL,
    topic        text,
    members      jsonb NOT NULL,                -- array of user ids
    join_web_url text,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE teams (
    tenant_id    text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    display_name text NOT NULL,
    owners       jsonb NOT NULL,                -- array of user ids
    members      jsonb NOT NULL,                -- array of user ids
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE applications (
    tenant_id               text COLLATE "C" NOT NULL,
    app_id                  text COLLATE "C" NOT NULL,
    display_name            text NOT NULL,
    client_secret           text NOT NULL,
    application_permissions jsonb NOT NULL,     -- array of strings
    delegated_permissions   jsonb NOT NULL,     -- array of strings
    selected_teams_apps     jsonb NOT NULL,     -- array of manifest ids
    PRIMARY KEY (tenant_id, app_id)
);

-- --- catalog -----------------------------------------------------------------------------

CREATE TABLE apps (
    tenant_id           text COLLATE "C" NOT NULL,
    id                  text COLLATE "C" NOT NULL,
    external_id         text COLLATE "C",       -- manifest id; NULL for store apps
    distribution_method text NOT NULL
        CHECK (distribution_method IN ('store', 'organization', 'sideloaded')),
    PRIMARY KEY (tenant_id, id)
);

-- Manifest ids are GUIDs: unique per tenant whatever their letter case. NULLs are distinct in
-- a unique index: any number of store apps per tenant.
CREATE UNIQUE INDEX apps_external_id ON apps (tenant_id, lower(external_id));

CREATE TABLE definitions (
    tenant_id            text COLLATE "C" NOT NULL,
    app_id               text COLLATE "C" NOT NULL,
    version              text COLLATE "C" NOT NULL,
    version_key          text COLLATE "C" NOT NULL, -- teamsapps_core::version::sort_key(version)
    state                text NOT NULL CHECK (state IN ('submitted', 'published', 'rejected')),
    display_name         text NOT NULL,
    short_description    text NOT NULL,
    description          text NOT NULL,
    last_modified        text,                  -- RFC 3339, UTC, nanoseconds
    created_by           text,
    client_app_id        text,
    required_permissions jsonb NOT NULL,        -- array of {permissionValue, permissionType}
    bot_id               text,
    allowed_team         boolean NOT NULL,
    allowed_group_chat   boolean NOT NULL,
    allowed_personal     boolean NOT NULL,
    etag                 text NOT NULL,
    PRIMARY KEY (tenant_id, app_id, version),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);

-- --- installations -----------------------------------------------------------------------

-- The big table. The foreign key makes an installation always name an existing definition;
-- deleting the definition (or its app) deletes the installation. `version_key` repeats the
-- installed definition's key (the same pure function of `version`), so that an upgrade is one
-- conditional UPDATE whose condition lives in the row it updates: when two upgrades race, the
-- second re-checks it against the first's committed row (READ COMMITTED re-evaluation) and an
-- installation never moves backwards.
CREATE TABLE installations (
    tenant_id   text COLLATE "C" NOT NULL,
    scope_kind  text COLLATE "C" NOT NULL CHECK (scope_kind IN ('user', 'chat', 'team')),
    scope_id    text COLLATE "C" NOT NULL,
    app_id      text COLLATE "C" NOT NULL,
    version     text COLLATE "C" NOT NULL,
    version_key text COLLATE "C" NOT NULL,
    consented   jsonb,                          -- like required_permissions; NULL = nothing
    PRIMARY KEY (tenant_id, scope_kind, scope_id, app_id),
    FOREIGN KEY (tenant_id, app_id, version)
        REFERENCES definitions (tenant_id, app_id, version) ON DELETE CASCADE
);

-- Serves the cascade from definitions (and apps) and the foreign-key checks of deletes
-- without scanning installations.
CREATE INDEX installations_by_definition ON installations (tenant_id, app_id, version);
