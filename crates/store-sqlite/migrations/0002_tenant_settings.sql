-- teamsAppSettings per tenant (spec 2.8): switches for user consent to RSC permissions.
-- A tenant without a row has the defaults (every switch on).
CREATE TABLE tenant_settings (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    settings  TEXT NOT NULL          -- JSON of teamsapps_core::model::TenantSettings
) STRICT;
