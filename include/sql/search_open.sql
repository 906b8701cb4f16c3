-- Face search in the open days' partitions (days loaded since the current search
-- generation was built): partition pruning on the day list keeps only those days,
-- each read through its own HNSW index (iterative scan) or, before index(day) ran,
-- scanned; the outer query restores exact order.
WITH nearest AS MATERIALIZED (
    SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,
           f.embedding {op} %(query)s AS distance
    FROM {schema}.faces AS f
    WHERE f.day = ANY(%(days)s::date[])
      AND (%(source)s::text IS NULL OR f.source = %(source)s::text)
    ORDER BY f.embedding {op} %(query)s
    LIMIT %(k)s
)
SELECT day, image_id, face_no, source, box_x, box_y, box_w, box_h, distance
FROM nearest
ORDER BY distance;
