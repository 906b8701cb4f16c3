-- Face search through the HNSW indexes: the k faces nearest to a query vector
-- over a day range, with an optional source filter (facepipe.search takes this
-- path without a filter, or when the filter keeps many rows). Partition pruning
-- keeps only the range's partitions; each is read through its HNSW index
-- (iterative scan, so a selective filter still yields k rows) and the results
-- merged; the outer query restores exact order.
WITH nearest AS MATERIALIZED (
    SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,
           f.embedding {op} %(query)s AS distance
    FROM {schema}.faces AS f
    WHERE f.day BETWEEN %(since)s AND %(until)s
      AND (%(source)s::text IS NULL OR f.source = %(source)s::text)
    ORDER BY f.embedding {op} %(query)s
    LIMIT %(k)s
)
SELECT n.day, n.image_id, n.face_no, i.uri, n.source, i.camera, i.captured_at,
       n.box_x, n.box_y, n.box_w, n.box_h, n.distance
FROM nearest AS n
JOIN {schema}.images AS i USING (day, image_id)
ORDER BY n.distance;
