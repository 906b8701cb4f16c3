-- The faces of one identity (python -m facepipe people show ID), newest first.
SELECT a.day, a.image_id, f.face_no, i.uri, f.source, a.box_x, a.box_y, a.box_w, a.box_h, a.how, a.distance
FROM {schema}.face_identity AS a
JOIN {schema}.faces AS f
  ON f.day = a.day AND f.image_id = a.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
JOIN {schema}.images AS i ON i.day = a.day AND i.image_id = a.image_id
WHERE a.identity_id = %(identity_id)s
ORDER BY a.day DESC, i.uri, f.face_no
LIMIT %(limit)s OFFSET %(offset)s;
