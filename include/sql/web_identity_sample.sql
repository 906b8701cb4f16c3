-- An identity's largest faces, shown beside a merge (its preview, the merge questions).
SELECT f.day, f.image_id, f.face_no, i.uri
FROM {schema}.face_identity AS a
JOIN {schema}.faces AS f
  ON f.day = a.day AND f.image_id = a.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
JOIN {schema}.images AS i ON i.day = f.day AND i.image_id = f.image_id
WHERE a.identity_id = %(identity_id)s
ORDER BY a.box_w * a.box_h DESC, a.day DESC, a.image_id
LIMIT %(limit)s;
