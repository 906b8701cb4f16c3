-- Exact face search: every face of a day range (of one source, if given) compared, the path
-- facepipe.search takes when the planner expects the range to keep few faces, before the
-- IVF's first centroids, and when the probed lists hold fewer than k faces of the range.
-- Partition pruning keeps only the range's partitions; a source's rows are read through
-- the faces_source btree; a top-k sort keeps the nearest.
WITH nearest AS MATERIALIZED (
    SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,
           (f.embedding {op} %(query)s) + 0 AS distance
    FROM {schema}.faces AS f
    WHERE f.day BETWEEN %(since)s AND %(until)s
      AND (%(source)s::text IS NULL OR f.source = %(source)s::text)
    ORDER BY distance
    LIMIT %(k)s
)
SELECT n.day, n.image_id, n.face_no, i.uri, n.source, i.camera, i.captured_at,
       n.box_x, n.box_y, n.box_w, n.box_h, n.distance
FROM nearest AS n
JOIN {schema}.images AS i USING (day, image_id)
ORDER BY n.distance, n.day, n.image_id, n.face_no;
