-- Face search in the current generation's one HNSW graph (facepipe.search.generations):
-- the k nearest of its faces on the given (sealed) days, optionally of one source.
-- pgvector's iterative scan (relaxed order) keeps reading the graph until k rows pass
-- the filters: the day filter (days loaded again since the generation was built are
-- searched in their partitions instead), the source, and row visibility (a face a
-- forget or retention deleted from the generation is never returned). The outer
-- query restores exact order.
WITH nearest AS MATERIALIZED (
    SELECT s.day, s.image_id, s.face_no, s.source, s.box_x, s.box_y, s.box_w, s.box_h,
           s.embedding {op} %(query)s AS distance
    FROM {schema}.{sealed} AS s
    WHERE s.day = ANY(%(days)s::date[])
      AND (%(source)s::text IS NULL OR s.source = %(source)s::text)
    ORDER BY s.embedding {op} %(query)s
    LIMIT %(k)s
)
SELECT day, image_id, face_no, source, box_x, box_y, box_w, box_h, distance
FROM nearest
ORDER BY distance;
