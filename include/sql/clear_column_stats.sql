-- A table a forget left empty: ANALYZE samples no row and keeps the old statistics
-- (pg_stats: most common values, histogram bounds: names, vectors), so they are cleared.
SELECT pg_catalog.pg_clear_attribute_stats(schemaname, tablename, attname, inherited)
FROM pg_catalog.pg_stats
WHERE schemaname = %(schema)s AND tablename = %(table)s;
