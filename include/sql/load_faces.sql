-- Replace step 2: faces of the images that were loaded (not of duplicates). The join
-- names the images partition's whole primary key (day, image_id): with stale
-- staging statistics the planner expects a couple of rows and picks a nested
-- loop, which then looks each image up by key instead of rescanning the partition
-- per face (33,304 faces: 0.2 s instead of 20-70 s).
INSERT INTO {schema}.{faces_part}
    (day, image_id, face_no, box_x, box_y, box_w, box_h, source, detector, det_score, model, embedding,
     frame_s, first_s, last_s)
SELECT f.day, f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, f.source,
       f.detector, f.det_score, f.model, f.embedding, f.frame_s, f.first_s, f.last_s
FROM {schema}.stage_faces AS f
JOIN {schema}.{images_part} AS i
  ON i.day = f.day AND i.image_id = f.image_id AND i.status = 'loaded'
WHERE f.day = %(day)s AND f.run_id = %(run_id)s;
