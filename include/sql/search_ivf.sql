-- Face search through the IVF (facepipe.search.ivf): the nearest faces of a day range,
-- optionally of one source, among the faces of the probed lists (the lists whose centroids
-- are nearest the query, found by the client). Partition pruning on the list ids keeps the
-- partitions holding those lists; each is read by an index-only scan of its covering btree
-- (list_id) INCLUDE (key, source, box, vector), which keeps a list's faces together. The
-- vectors there are halfvec: the nearest few times k by that distance are re-ranked by their
-- exact vectors in faces (search_rerank.sql) where the model's type is another. Their photos
-- come after, for the k found (search_images.sql): joined here, the plan would hold every
-- day's partitions. The day range is written `day + 0` so that it can never
-- be the key (day, ...) btree's condition: a planner that costed a partition's index-only scan
-- high (its visibility map lost to a forget's VACUUM FULL) read the whole day range of the
-- partition through that btree instead, 10x the time at 10M faces (BENCHMARKS.md section 14).
SELECT s.day, s.image_id, s.face_no, s.source, s.box_x, s.box_y, s.box_w, s.box_h,
       s.embedding {op} %(query)s::{vector_type} AS distance
FROM {schema}.{table} AS s
WHERE s.list_id = ANY(%(lists)s::integer[])
  AND s.day + 0 BETWEEN %(since)s AND %(until)s
  AND (%(source)s::text IS NULL OR s.source = %(source)s::text)
ORDER BY distance, s.day, s.image_id, s.face_no
LIMIT %(limit)s;
