-- 0004_catalog_generation: the PostgreSQL twin of the SQLite store's 0004. A counter that every
-- change to `apps` or `definitions` bumps in the same transaction. Nodes keep decoded catalog
-- apps in memory, tagged with the generation they were read at, and use them only when a
-- read's own statement (its snapshot) shows that same generation.
--
-- Triggers (not the store's code) bump it, so a change made by any node or client of this
-- database invalidates every node's cache. They are statement triggers, so TRUNCATE (wipe,
-- snapshot restore) bumps it too and a bulk statement bumps it once, and ENABLE ALWAYS, so
-- they also fire under `session_replication_role = replica` (which a snapshot restore sets to
-- skip foreign-key checks). A future migration that rewrites these tables must bump it too.
CREATE TABLE catalog_generation (
    id         integer PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 1);

CREATE FUNCTION bump_catalog_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER apps_bump_catalog
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER definitions_bump_catalog
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON definitions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
ALTER TABLE apps ENABLE ALWAYS TRIGGER apps_bump_catalog;
ALTER TABLE definitions ENABLE ALWAYS TRIGGER definitions_bump_catalog;
