-- The identity whose centroid is nearest to the centre of a group of pooled faces
-- (one HNSW search): a group that close is more faces of that identity, not a new one.
WITH g AS (
    SELECT avg(p.embedding) AS centre
    FROM unnest(%(days)s::date[], %(image_ids)s::uuid[], %(x)s::int[], %(y)s::int[], %(w)s::int[], %(h)s::int[])
         AS k (day, image_id, box_x, box_y, box_w, box_h)
    JOIN {schema}.identity_pool AS p
      ON p.day = k.day AND p.image_id = k.image_id
     AND (p.box_x, p.box_y, p.box_w, p.box_h) = (k.box_x, k.box_y, k.box_w, k.box_h)
)
SELECT n.identity_id, n.distance
FROM g
CROSS JOIN LATERAL (
    SELECT i.identity_id, i.centroid {op} g.centre AS distance
    FROM {schema}.identities AS i
    WHERE i.centroid IS NOT NULL
    ORDER BY i.centroid {op} g.centre
    LIMIT 1
) AS n;
