-- Identities with their faces, days and sources (python -m facepipe people list); hidden
-- ones only with %(hidden)s.
SELECT i.identity_id, p.name, p.person_id, count(a.identity_id) AS faces,
       count(DISTINCT a.day) AS days, min(a.day) AS first_seen, max(a.day) AS last_seen,
       coalesce(array_agg(DISTINCT f.source) FILTER (WHERE f.source IS NOT NULL), ARRAY[]::text[]) AS sources,
       i.created_at, i.updated_at, i.hidden_at IS NOT NULL AS hidden
FROM {schema}.identities AS i
LEFT JOIN {schema}.people AS p USING (person_id)
LEFT JOIN {schema}.face_identity AS a ON a.identity_id = i.identity_id
LEFT JOIN {schema}.faces AS f
  ON f.day = a.day AND f.image_id = a.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
WHERE (%(named)s::boolean IS NULL OR (i.person_id IS NOT NULL) = %(named)s::boolean)
  AND (%(identity_id)s::bigint IS NULL OR i.identity_id = %(identity_id)s::bigint)
  AND (%(hidden)s::boolean OR i.hidden_at IS NULL)
GROUP BY i.identity_id, p.name, p.person_id
HAVING count(a.identity_id) >= %(min_faces)s
ORDER BY p.name NULLS LAST, count(DISTINCT a.day) DESC, count(a.identity_id) DESC, i.identity_id
LIMIT %(limit)s;
