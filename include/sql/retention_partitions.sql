-- The partitions of images and faces with their bounds as text, e.g.
-- FOR VALUES FROM ('2026-11-20') TO ('2026-11-21'): facepipe.privacy.retention drops those
-- that lie wholly before its horizon (read from the bounds, not from the names).
SELECT parent.relname AS parent, cn.nspname AS part_schema, child.relname AS part,
       pg_get_expr(child.relpartbound, child.oid) AS bound
FROM pg_inherits AS i
JOIN pg_class AS parent ON parent.oid = i.inhparent
JOIN pg_namespace AS pn ON pn.oid = parent.relnamespace
JOIN pg_class AS child ON child.oid = i.inhrelid
JOIN pg_namespace AS cn ON cn.oid = child.relnamespace
WHERE pn.nspname = %(schema)s
  AND parent.relname IN ('images', 'faces')
  AND parent.relkind = 'p'
ORDER BY parent.relname, child.relname;
