-- Face search on a list of days in one table: the k nearest of its faces on those days,
-- optionally of one source. facepipe.search.query runs it on two tables:
-- - the current generation's one index (``{table}`` = search_sealed_g<N>, its sealed days):
--   pgvector's iterative scan (relaxed order) keeps reading it until k rows pass the
--   filters: the day filter (days loaded again since the generation was built are searched
--   in their partitions instead), the source, and row visibility (a face a forget or
--   retention deleted from the generation is never returned);
-- - the open days' partitions (``{table}`` = faces, days loaded since the generation was
--   built): partition pruning on the day list keeps only those days, each read through
--   its own HNSW index (iterative scan) or, before index(day) ran, scanned.
-- The outer query restores exact order.
WITH nearest AS MATERIALIZED (
    SELECT t.day, t.image_id, t.face_no, t.source, t.box_x, t.box_y, t.box_w, t.box_h,
           t.embedding {op} %(query)s AS distance
    FROM {schema}.{table} AS t
    WHERE t.day = ANY(%(days)s::date[])
      AND (%(source)s::text IS NULL OR t.source = %(source)s::text)
    ORDER BY t.embedding {op} %(query)s
    LIMIT %(k)s
)
SELECT day, image_id, face_no, source, box_x, box_y, box_w, box_h, distance
FROM nearest
ORDER BY distance;
