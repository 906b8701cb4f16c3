-- Columns of facepipe's tables (partitioned parents and plain tables, not partitions)
-- whose type is not a pgvector type: what a report reader may select.
SELECT c.relname AS table_name, a.attname AS column_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = %(schema)s
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND t.typname NOT IN ('vector', 'halfvec', 'sparsevec')
ORDER BY c.relname, a.attnum
