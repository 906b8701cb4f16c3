-- The identity nearest to a face, other than the one a suggestion asks about (its centroid
-- index): "who is next nearest" beside a face question of the Faces view's Suggestions. A
-- hidden identity is not named there (nor numbered): "another identity".
SELECT CASE WHEN i.hidden_at IS NULL THEN i.identity_id END AS identity_id,
       CASE WHEN i.hidden_at IS NULL THEN p.name END AS name, i.centroid {op} f.embedding AS distance
FROM {schema}.faces AS f
CROSS JOIN LATERAL (
    SELECT c.identity_id, c.person_id, c.centroid, c.hidden_at FROM {schema}.identities AS c
    WHERE c.identity_id <> %(identity_id)s AND c.faces > 0 AND c.centroid IS NOT NULL
    ORDER BY c.centroid {op} f.embedding
    LIMIT 1
) AS i
LEFT JOIN {schema}.people AS p ON p.person_id = i.person_id
WHERE f.day = %(day)s AND f.image_id = %(image_id)s AND f.face_no = %(face_no)s;
