-- Assignments of the day whose box no face of the day has any more (the day was
-- loaded again and the detector drew the box a little differently, or the face
-- is gone), and faces of the day with no assignment: facepipe.people matches the
-- two by box overlap within each image.
SELECT 'old' AS side, a.image_id, NULL::smallint AS face_no, a.box_x, a.box_y, a.box_w, a.box_h
FROM {schema}.face_identity AS a
WHERE a.day = %(day)s
  AND NOT EXISTS (
      SELECT 1 FROM {schema}.faces AS f
      WHERE f.day = a.day AND f.image_id = a.image_id
        AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h))
UNION ALL
SELECT 'new', f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h
FROM {schema}.faces AS f
WHERE f.day = %(day)s
  AND NOT EXISTS (
      SELECT 1 FROM {schema}.face_identity AS a
      WHERE a.day = f.day AND a.image_id = f.image_id
        AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h));
