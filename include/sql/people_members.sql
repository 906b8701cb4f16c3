-- The %(m)s newest faces of each of the given identities (face_identity_identity,
-- read backwards) with their embeddings, and the enrolled reference photos of the
-- named ones: what a new face is compared with before it joins.
SELECT ids.identity_id, f.embedding
FROM unnest(%(ids)s::bigint[]) AS ids (identity_id)
CROSS JOIN LATERAL (
    SELECT a.day, a.image_id, a.box_x, a.box_y, a.box_w, a.box_h
    FROM {schema}.face_identity AS a
    WHERE a.identity_id = ids.identity_id
    ORDER BY a.day DESC
    LIMIT %(m)s
) AS a
JOIN {schema}.faces AS f
  ON f.day = a.day AND f.image_id = a.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
UNION ALL
SELECT i.identity_id, r.embedding
FROM {schema}.identities AS i
JOIN {schema}.person_refs AS r USING (person_id)
WHERE i.identity_id = ANY(%(ids)s::bigint[]);
