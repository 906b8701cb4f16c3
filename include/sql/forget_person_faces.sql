-- The faces a forget of one person removes: every loaded face assigned to their
-- identity, and every face, loaded or staged, within the threshold of one of their
-- reference photos (of their identity's centroid when they have none). Distances
-- are exact (no index): an approximate search could miss a face.
WITH refs AS (
    SELECT embedding FROM {schema}.person_refs WHERE person_id = %(person_id)s
    UNION ALL
    SELECT centroid FROM {schema}.identities
    WHERE identity_id = %(identity_id)s AND centroid IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM {schema}.person_refs WHERE person_id = %(person_id)s)
)
INSERT INTO forget_faces (day, image_id, face_no, content_sha256, box_x, box_y, box_w, box_h, frame_s)
SELECT f.day, f.image_id, f.face_no, i.content_sha256, f.box_x, f.box_y, f.box_w, f.box_h, f.frame_s
FROM {schema}.faces AS f
JOIN {schema}.images AS i ON i.day = f.day AND i.image_id = f.image_id
WHERE EXISTS (SELECT 1 FROM {schema}.face_identity AS a
              WHERE a.identity_id = %(identity_id)s AND a.day = f.day AND a.image_id = f.image_id
                AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h))
   OR EXISTS (SELECT 1 FROM refs WHERE (refs.embedding {op} f.embedding) < %(threshold)s)
UNION
SELECT s.day, s.image_id, NULL, si.content_sha256, s.box_x, s.box_y, s.box_w, s.box_h, s.frame_s
FROM {schema}.stage_faces AS s
JOIN {schema}.stage_images AS si ON si.day = s.day AND si.run_id = s.run_id AND si.image_id = s.image_id
WHERE EXISTS (SELECT 1 FROM refs WHERE (refs.embedding {op} s.embedding) < %(threshold)s);
