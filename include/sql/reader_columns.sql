-- The views of the reader schema and their columns, in order: what grant-reader grants.
SELECT c.relname AS view_name, a.attname AS column_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %(schema)s
  AND c.relkind = 'v'
ORDER BY c.relname, a.attnum
