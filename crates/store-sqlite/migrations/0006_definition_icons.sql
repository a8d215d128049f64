-- 0006_definition_icons: the icon files (manifest icons.color, icons.outline) of uploaded
-- packages, served by the beta colorIcon/outlineIcon hostedContent/$value. They belong to their
-- definition: deleting or replacing it deletes them.
CREATE TABLE definition_icons (
    tenant_id    TEXT NOT NULL,
    app_id       TEXT NOT NULL,
    version      TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('color', 'outline')),
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    PRIMARY KEY (tenant_id, app_id, version, kind),
    FOREIGN KEY (tenant_id, app_id, version)
        REFERENCES definitions (tenant_id, app_id, version) ON DELETE CASCADE
) STRICT;
