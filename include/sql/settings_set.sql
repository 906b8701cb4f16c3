-- One deployment setting's new value; returns the value it had (NULL: none), for the audit row.
WITH old AS (
    SELECT value FROM {schema}.settings WHERE name = %(name)s FOR UPDATE
), new AS (
    INSERT INTO {schema}.settings (name, value, set_by, set_at)
    VALUES (%(name)s, %(value)s, %(who)s, now())
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at
)
SELECT (SELECT value FROM old)
