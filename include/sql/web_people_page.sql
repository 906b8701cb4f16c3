-- One page of the Faces view's People grid. The identities are filtered and ordered from
-- the identities table alone (its face counts), then only the page's rows are aggregated
-- (face_identity_identity index) and given their best face: the largest box.
WITH page AS (
    SELECT i.identity_id, p.name, i.faces, i.hidden_at IS NOT NULL AS hidden, count(*) OVER () AS total
    FROM {schema}.identities AS i
    LEFT JOIN {schema}.people AS p USING (person_id)
    WHERE (%(named)s::boolean IS NULL OR (i.person_id IS NOT NULL) = %(named)s::boolean)
      AND i.faces >= %(min_faces)s
      AND (%(hidden)s::boolean OR i.hidden_at IS NULL)
      AND (%(since)s::date IS NULL OR EXISTS (
            SELECT 1 FROM {schema}.face_identity AS s
            WHERE s.identity_id = i.identity_id AND s.day >= %(since)s::date))
    ORDER BY p.name NULLS LAST, i.faces DESC, i.identity_id
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT page.identity_id, page.name, page.faces, page.hidden, page.total,
       seen.days, seen.first_seen, seen.last_seen,
       best.day AS best_day, best.image_id AS best_image_id, best.face_no AS best_face_no
FROM page
CROSS JOIN LATERAL (
    SELECT count(DISTINCT a.day) AS days, min(a.day) AS first_seen, max(a.day) AS last_seen
    FROM {schema}.face_identity AS a WHERE a.identity_id = page.identity_id
) AS seen
LEFT JOIN LATERAL (
    SELECT f.day, f.image_id, f.face_no
    FROM {schema}.face_identity AS a
    JOIN {schema}.faces AS f
      ON f.day = a.day AND f.image_id = a.image_id
     AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
    WHERE a.identity_id = page.identity_id
    ORDER BY a.box_w * a.box_h DESC, a.day DESC, a.image_id
    LIMIT 1
) AS best ON true
ORDER BY page.name NULLS LAST, page.faces DESC, page.identity_id;
