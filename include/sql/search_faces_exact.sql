-- Exact face search over one source's faces in a day range, the path
-- facepipe.search takes when the planner expects the filter to keep few rows.
-- Partition pruning keeps only the range's partitions; in each, the source's rows
-- are read through the faces_source btree index (a day holds one run's faces, so
-- one source: the btree skips other sources' days at once), every distance is computed and a
-- top-k sort keeps the nearest. "+ 0" makes the sort key an expression that no
-- HNSW index returns in order, so this is never turned into an approximate scan.
WITH nearest AS MATERIALIZED (
    SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,
           (f.embedding {op} %(query)s) + 0 AS distance
    FROM {schema}.faces AS f
    WHERE f.day BETWEEN %(since)s AND %(until)s
      AND f.source = %(source)s
    ORDER BY distance
    LIMIT %(k)s
)
SELECT n.day, n.image_id, n.face_no, i.uri, n.source, i.camera, i.captured_at,
       n.box_x, n.box_y, n.box_w, n.box_h, n.distance
FROM nearest AS n
JOIN {schema}.images AS i USING (day, image_id)
ORDER BY n.distance;
