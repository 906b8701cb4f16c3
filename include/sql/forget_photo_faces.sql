-- The faces a forget of photos (by content) removes: every face of every copy, on any day.
INSERT INTO forget_faces (day, image_id, face_no, content_sha256, box_x, box_y, box_w, box_h)
SELECT f.day, f.image_id, f.face_no, i.content_sha256, f.box_x, f.box_y, f.box_w, f.box_h
FROM {schema}.faces AS f
JOIN {schema}.images AS i ON i.day = f.day AND i.image_id = f.image_id
WHERE i.content_sha256 = ANY(%(shas)s);
