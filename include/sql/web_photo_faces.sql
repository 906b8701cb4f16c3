-- Every face of one photo with who it is (a person, an unnamed identity, or no one yet).
SELECT f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, f.frame_s, a.identity_id, p.name, a.how
FROM {schema}.faces AS f
LEFT JOIN {schema}.face_identity AS a
  ON a.day = f.day AND a.image_id = f.image_id
 AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)
LEFT JOIN {schema}.identities AS i ON i.identity_id = a.identity_id
LEFT JOIN {schema}.people AS p ON p.person_id = i.person_id
WHERE f.day = %(day)s AND f.image_id = %(image_id)s
ORDER BY f.frame_s NULLS FIRST, f.box_x, f.face_no;
