-- Revision 0014's downgrade: each version's vectors back to the model's type ({vector_type}),
-- with their exact values from faces (a facepipe before 0014 ranks by them, without a re-rank).
-- A model stored as halfvec (imgbeddings) had halfvec tables before 0014 too: nothing changes.
DO $fp14$
DECLARE
    t record;
BEGIN
    IF '{vector_type}' NOT LIKE 'vector(%' THEN
        RETURN;
    END IF;
    FOR t IN
        SELECT c.oid::regclass AS rel, a.atttypmod AS dim, ivf.relnamespace::regnamespace AS nsp
        FROM {schema}.search_ivf AS v
        JOIN pg_class AS ivf ON ivf.oid = v.tableoid
        JOIN pg_class AS c ON c.relnamespace = ivf.relnamespace AND c.relname = 'search_lists_v' || v.version
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attname = 'embedding'
        WHERE a.atttypid = 'halfvec'::regtype
        ORDER BY v.version
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding TYPE vector(%s) USING embedding::vector(%s)',
                       t.rel, t.dim, t.dim);
        EXECUTE format('UPDATE %s AS s SET embedding = f.embedding FROM %s.faces AS f'
                       ' WHERE f.day = s.day AND f.image_id = s.image_id AND f.face_no = s.face_no', t.rel, t.nsp);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN embedding SET STATISTICS 0', t.rel);
    END LOOP;
END
$fp14$;
