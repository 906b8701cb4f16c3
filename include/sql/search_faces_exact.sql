-- Exact face search: every face of a day range (of one source, if given) compared, the path
-- facepipe.search takes when the range keeps few faces, before the IVF's first centroids, and
-- when the probed lists hold fewer than k faces of the range. Partition pruning keeps only
-- the range's partitions; a source's rows are read through the faces_source btree; a top-k
-- sort keeps the nearest. Their photos come after, for the k found (search_images.sql):
-- joined here, images was hash-joined whole, every day's partition of it (60,000 faces:
-- 5 ms for the nearest, 25 ms for the join).
SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,
       (f.embedding {op} %(query)s) + 0 AS distance
FROM {schema}.faces AS f
WHERE f.day BETWEEN %(since)s AND %(until)s
  AND (%(source)s::text IS NULL OR f.source = %(source)s::text)
ORDER BY distance, f.day, f.image_id, f.face_no
LIMIT %(k)s;
