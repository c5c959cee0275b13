-- What the admin granted each installed plugin: the [permissions] of its manifest it consented to,
-- as JSON ({"network", "read", "write", "env"}). NULL for a plugin installed before grants were
-- recorded: nothing is granted, so an update that asks for any permission needs consent.
ALTER TABLE plugins ADD COLUMN granted_permissions jsonb;
