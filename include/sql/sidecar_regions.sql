-- The named faces of some photos, for their XMP sidecars (facepipe.people.sidecars): one
-- row per face of a named, not hidden identity, with its photo's upright size; a photo
-- with no such face is one row whose name is NULL (its sidecar loses facepipe's regions).
SELECT i.day, i.image_id, i.uri, i.source, i.width, i.height, n.name, n.box_x, n.box_y, n.box_w, n.box_h
FROM {schema}.images AS i
JOIN unnest(%(days)s::date[], %(image_ids)s::uuid[]) AS k (day, image_id)
  ON k.day = i.day AND k.image_id = i.image_id
LEFT JOIN (
    SELECT a.day, a.image_id, p.name, a.box_x, a.box_y, a.box_w, a.box_h
    FROM {schema}.face_identity AS a
    JOIN {schema}.identities AS d USING (identity_id)
    JOIN {schema}.people AS p USING (person_id)
    WHERE d.hidden_at IS NULL
) AS n ON n.day = i.day AND n.image_id = i.image_id
WHERE i.media = 'photo' AND i.status = 'loaded'
ORDER BY i.day, i.image_id, n.box_x, n.box_y;
