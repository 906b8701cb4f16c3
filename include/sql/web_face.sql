-- One face that exists in the tables, with its photo's URI and source (a crop, a search).
SELECT f.day, f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, f.source, i.uri, i.width, i.height,
       f.frame_s
FROM {schema}.faces AS f
JOIN {schema}.images AS i ON i.day = f.day AND i.image_id = f.image_id
WHERE f.day = %(day)s AND f.image_id = %(image_id)s AND f.face_no = %(face_no)s;
