-- The reader grants the newest downgrade across revision 0005 kept in the audit when it
-- dropped the reader schema (op reader_grants; facepipe.core.migrations.reader_grants).
SELECT detail -> 'grants'
FROM {schema}.audit
WHERE op = 'reader_grants'
ORDER BY op_no DESC
LIMIT 1
