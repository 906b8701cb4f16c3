-- For each face of the day that belongs to no identity: the nearest identities
-- within the threshold, by centroid (one HNSW search of identities, at most
-- %(k)s rows) and by enrolled reference photo (person_refs is small: exact).
-- The distance filter stays outside each LIMIT so every search is bounded.
WITH new AS MATERIALIZED (
    SELECT f.image_id, f.box_x, f.box_y, f.box_w, f.box_h, f.embedding
    FROM {schema}.faces AS f
    WHERE f.day = %(day)s
      AND NOT EXISTS (
          SELECT 1 FROM {schema}.face_identity AS a
          WHERE a.day = f.day AND a.image_id = f.image_id
            AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h))
)
SELECT n.image_id, n.box_x, n.box_y, n.box_w, n.box_h, c.identity_id, c.distance, c.how
FROM new AS n
CROSS JOIN LATERAL (
    (SELECT i.identity_id, i.centroid {op} n.embedding AS distance, 'identity' AS how
     FROM {schema}.identities AS i
     ORDER BY i.centroid {op} n.embedding
     LIMIT %(k)s)
    UNION ALL
    (SELECT i.identity_id, min(r.embedding {op} n.embedding), 'reference'
     FROM {schema}.person_refs AS r
     JOIN {schema}.identities AS i USING (person_id)
     GROUP BY i.identity_id
     ORDER BY 2
     LIMIT %(k)s)
) AS c
WHERE c.distance < %(threshold)s;
