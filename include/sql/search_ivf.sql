-- Face search through the IVF (facepipe.search.ivf): the k nearest faces of a day range,
-- optionally of one source, among the faces of the probed lists (the lists whose centroids
-- are nearest the query, found by the client). Partition pruning on the list ids keeps the
-- partitions holding those lists; each is read by an index-only scan of its covering btree
-- (list_id) INCLUDE (key, source, vector), which keeps a list's faces together; every
-- distance is exact. Boxes and photos come from faces and images for the k found.
WITH nearest AS MATERIALIZED (
    SELECT s.day, s.image_id, s.face_no, s.source, s.embedding {op} %(query)s AS distance
    FROM {schema}.{table} AS s
    WHERE s.list_id = ANY(%(lists)s::integer[])
      AND s.day BETWEEN %(since)s AND %(until)s
      AND (%(source)s::text IS NULL OR s.source = %(source)s::text)
    ORDER BY distance
    LIMIT %(k)s
)
SELECT n.day, n.image_id, n.face_no, i.uri, n.source, i.camera, i.captured_at,
       f.box_x, f.box_y, f.box_w, f.box_h, n.distance
FROM nearest AS n
JOIN {schema}.faces AS f USING (day, image_id, face_no)
JOIN {schema}.images AS i USING (day, image_id)
ORDER BY n.distance, n.day, n.image_id, n.face_no;
