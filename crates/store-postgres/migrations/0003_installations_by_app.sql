-- 0003_installations_by_app: the PostgreSQL twin of the SQLite store's 0003. The index serving
-- the cascade from definitions (and apps) no longer holds the installed version: an upgrade
-- changes only `version`, `version_key` and `consented`, none of them indexed any more, so
-- PostgreSQL can make it a heap-only (HOT) update that writes no index page at all (with the
-- version in an index, every upgrade also inserted a new entry into that index, and into the
-- primary key's, since a non-HOT update gives the row a new address). The cascade's lookup
-- (tenant_id, app_id, version) uses the (tenant_id, app_id) prefix and checks the version of
-- the rows found.
CREATE INDEX installations_by_app ON installations (tenant_id, app_id);
DROP INDEX installations_by_definition;
-- A HOT update needs room for the new row version on the same heap page: leave a tenth of each
-- page free (pages written from now on; older ones gain room as vacuum frees dead versions).
ALTER TABLE installations SET (fillfactor = 90);
