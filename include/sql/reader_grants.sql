-- Who holds what on the reader schema, from the catalog: one row per USAGE on the schema
-- (view_name NULL) and per SELECT on one of its views; role_name NULL is PUBLIC. The
-- owner's own privileges are left out. Read before and after the revisions run
-- (facepipe.core.migrations.reader_grants), so that no downgrade or upgrade loses a reader.
SELECT r.rolname AS role_name, NULL::name AS view_name
FROM pg_namespace n
CROSS JOIN LATERAL aclexplode(n.nspacl) a
LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE n.nspname = %(reader)s
  AND a.privilege_type = 'USAGE'
  AND a.grantee <> n.nspowner
UNION
SELECT r.rolname, c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) a
LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE n.nspname = %(reader)s
  AND c.relkind = 'v'
  AND a.privilege_type = 'SELECT'
  AND a.grantee <> c.relowner
