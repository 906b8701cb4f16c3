-- Faces the Unassigned page names (day, image_id, face_no), with their boxes, their
-- identity if they have one now, and whether they were dismissed as not a face.
SELECT f.day, f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, a.identity_id,
       d.day IS NOT NULL AS dismissed
FROM unnest(%(days)s::date[], %(image_ids)s::uuid[], %(face_nos)s::int[]) AS k (day, image_id, face_no)
JOIN {schema}.faces AS f ON f.day = k.day AND f.image_id = k.image_id AND f.face_no = k.face_no
LEFT JOIN {schema}.face_identity AS a
  ON a.day = f.day AND a.image_id = f.image_id
 AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)
LEFT JOIN {schema}.dismissed_faces AS d
  ON d.day = f.day AND d.image_id = f.image_id
 AND (d.box_x, d.box_y, d.box_w, d.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h);
