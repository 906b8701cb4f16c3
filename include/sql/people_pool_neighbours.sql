-- For each of the day's pooled faces, its nearest pooled faces (itself included),
-- one HNSW search each of at most %(k)s rows; those within the threshold count.
SELECT p.image_id, p.box_x, p.box_y, p.box_w, p.box_h,
       n.day, n.image_id, n.box_x, n.box_y, n.box_w, n.box_h, n.distance
FROM {schema}.identity_pool AS p
CROSS JOIN LATERAL (
    SELECT q.day, q.image_id, q.box_x, q.box_y, q.box_w, q.box_h, q.embedding {op} p.embedding AS distance
    FROM {schema}.identity_pool AS q
    ORDER BY q.embedding {op} p.embedding
    LIMIT %(k)s
) AS n
WHERE p.day = %(day)s
  AND n.distance < %(threshold)s;
