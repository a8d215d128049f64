-- 0003_installations_by_app: the index serving the cascade from definitions (and apps) no
-- longer holds the installed version. An upgrade changes only `version`, so with the version
-- in the index every upgrade also moved the installation's index entry (two more b-tree pages
-- written per upgrade, in the WAL and again at checkpoint). The cascade's lookup
-- (tenant_id, app_id, version) uses the (tenant_id, app_id) prefix and checks the version of
-- the rows found.
CREATE INDEX installations_by_app ON installations (tenant_id, app_id);
DROP INDEX installations_by_definition;
