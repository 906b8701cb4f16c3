-- The run's staged faces with what validation needs to know about their image.
SELECT f.image_id::text AS image_id, f.face_no, f.day,
       f.box_x, f.box_y, f.box_w, f.box_h, f.img_width, f.img_height,
       f.embedding, i.day AS image_day, i.status AS image_status
FROM {schema}.stage_faces AS f
LEFT JOIN {schema}.stage_images AS i
  ON i.run_id = f.run_id AND i.image_id = f.image_id AND i.day = f.day
WHERE f.day = %(day)s AND f.run_id = %(run_id)s
ORDER BY f.image_id, f.face_no;
