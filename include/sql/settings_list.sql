-- The deployment settings the database holds (facepipe.core.config.read_stored).
SELECT name, value, set_by, set_at
FROM {schema}.settings
ORDER BY name
