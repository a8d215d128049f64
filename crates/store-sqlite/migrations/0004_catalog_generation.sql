-- 0004_catalog_generation: a counter that every change to `apps` or `definitions` bumps in the
-- same transaction. Readers keep decoded catalog apps in memory, tagged with the generation
-- they were read at, and use them only while a read's snapshot shows that same generation.
-- Triggers (not the store's code) bump it, so a change made by any connection or process
-- writing this file, snapshot restores and wipes included, invalidates every cache. A future
-- migration that rewrites these tables in bulk must bump it too.
CREATE TABLE catalog_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 1);

CREATE TRIGGER apps_insert_bumps_catalog AFTER INSERT ON apps
BEGIN UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER apps_update_bumps_catalog AFTER UPDATE ON apps
BEGIN UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER apps_delete_bumps_catalog AFTER DELETE ON apps
BEGIN UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER definitions_insert_bumps_catalog AFTER INSERT ON definitions
BEGIN UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER definitions_update_bumps_catalog AFTER UPDATE ON definitions
BEGIN UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER definitions_delete_bumps_catalog AFTER DELETE ON definitions
BEGIN UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1; END;
