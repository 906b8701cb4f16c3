-- Face count and centroid of the given identities, from their faces (after a
-- re-run, a move or a merge; the nightly assignment updates them incrementally).
UPDATE {schema}.identities AS i
SET faces = coalesce(m.faces, 0), centroid = m.centroid, updated_at = now()
FROM (
    SELECT ids.identity_id, count(f.embedding) AS faces, avg(f.embedding) AS centroid
    FROM unnest(%(ids)s::bigint[]) AS ids (identity_id)
    LEFT JOIN {schema}.face_identity AS a ON a.identity_id = ids.identity_id
    LEFT JOIN {schema}.faces AS f
      ON f.day = a.day AND f.image_id = a.image_id
     AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
    GROUP BY ids.identity_id
) AS m
WHERE i.identity_id = m.identity_id;
