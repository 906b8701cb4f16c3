-- Identities a face could be moved to (the Faces view's "Not this person"): the nearest to
-- the face by centroid (its index), or, with text typed, those whose name holds it; each
-- with its best face. Never the identity the face is in now.
WITH face AS (
    SELECT f.embedding FROM {schema}.faces AS f
    WHERE f.day = %(day)s AND f.image_id = %(image_id)s AND f.face_no = %(face_no)s
), cand AS (
    SELECT i.identity_id, p.name, i.faces, i.hidden_at IS NOT NULL AS hidden, i.centroid {op} (SELECT embedding FROM face) AS distance
    FROM {schema}.identities AS i
    LEFT JOIN {schema}.people AS p USING (person_id)
    WHERE i.identity_id IS DISTINCT FROM %(current)s::bigint AND i.faces > 0
      AND (%(q)s::text IS NULL OR strpos(lower(p.name), lower(%(q)s::text)) > 0)
      AND (i.hidden_at IS NULL OR %(q)s::text IS NOT NULL)  -- a hidden person: only to those who type the name
    ORDER BY distance NULLS LAST, i.identity_id
    LIMIT %(limit)s
)
SELECT cand.identity_id, cand.name, cand.faces, cand.hidden, cand.distance,
       best.day AS best_day, best.image_id AS best_image_id, best.face_no AS best_face_no
FROM cand
LEFT JOIN LATERAL (
    SELECT f.day, f.image_id, f.face_no
    FROM {schema}.face_identity AS a
    JOIN {schema}.faces AS f
      ON f.day = a.day AND f.image_id = a.image_id
     AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
    WHERE a.identity_id = cand.identity_id
    ORDER BY a.box_w * a.box_h DESC, a.day DESC, a.image_id
    LIMIT 1
) AS best ON true
ORDER BY cand.distance NULLS LAST, cand.identity_id;
