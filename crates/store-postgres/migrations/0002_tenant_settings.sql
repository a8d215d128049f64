-- teamsAppSettings per tenant (spec 2.8): switches for user consent to RSC permissions.
-- A tenant without a row has the defaults (every switch on).
CREATE TABLE tenant_settings (
    tenant_id text COLLATE "C" NOT NULL PRIMARY KEY,
    settings  jsonb NOT NULL              -- teamsapps_core::model::TenantSettings
);
