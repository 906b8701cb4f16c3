-- search_on_days.sql on a generation indexed on its vectors as halfvec (IVFFlat,
-- facepipe.search.generations.index_column): the index reads %(candidates)s faces nearest by
-- the halfvec distance (the ORDER BY is the indexed expression, so the planner can use it;
-- relaxed order, the iterative scan skipping other days, other sources and deleted rows),
-- then they are re-ranked by the full vector's distance, which is what a search reports:
-- the k kept are ordered as an exact search orders them.
WITH candidates AS MATERIALIZED (
    SELECT t.day, t.image_id, t.face_no, t.source, t.box_x, t.box_y, t.box_w, t.box_h, t.embedding
    FROM {schema}.{table} AS t
    WHERE t.day = ANY(%(days)s::date[])
      AND (%(source)s::text IS NULL OR t.source = %(source)s::text)
    ORDER BY t.embedding::{half} {op} %(query)s::{half}
    LIMIT %(candidates)s
)
SELECT day, image_id, face_no, source, box_x, box_y, box_w, box_h,
       embedding {op} %(query)s AS distance
FROM candidates
ORDER BY distance
LIMIT %(k)s;
