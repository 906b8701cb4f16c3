-- face_count of the images (loaded and staged) that lost faces to a forget.
UPDATE {schema}.images AS i
SET face_count = (SELECT count(*) FROM {schema}.faces AS f WHERE f.day = i.day AND f.image_id = i.image_id)
WHERE (i.day, i.image_id) IN (SELECT day, image_id FROM forget_faces);
