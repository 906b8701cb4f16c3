-- Revision 0014: the search table's vectors become halfvec (facepipe.search.ivf.search_type):
-- the covering btree a search reads is about half, and a search re-ranks its candidates by the
-- exact vectors in faces (include/sql/search_rerank.sql). Each version's table made with the
-- model's vector type is converted in place: ALTER COLUMN ... TYPE rewrites the table and its
-- indexes into new files (the old ones unlinked) and drops the column's statistics. The
-- versions are found from search_ivf's own rows, so that no name is spelled as a literal.
DO $fp14$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.oid::regclass AS rel, a.atttypmod AS dim
        FROM {schema}.search_ivf AS v
        JOIN pg_class AS ivf ON ivf.oid = v.tableoid
        JOIN pg_class AS c ON c.relnamespace = ivf.relnamespace AND c.relname = 'search_lists_v' || v.version
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attname = 'embedding'
        WHERE a.atttypid = 'vector'::regtype
        ORDER BY v.version
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding TYPE halfvec(%s) USING embedding::halfvec(%s)',
                       t.rel, t.dim, t.dim);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding SET STATISTICS 0', t.rel);
    END LOOP;
END
$fp14$;
