-- face_count of the staged images that lost faces to a forget.
UPDATE {schema}.stage_images AS i
SET face_count = (SELECT count(*) FROM {schema}.stage_faces AS f
                  WHERE f.day = i.day AND f.run_id = i.run_id AND f.image_id = i.image_id)
WHERE i.content_sha256 IN (SELECT content_sha256 FROM {schema}.suppressions WHERE op_no = %(op_no)s);
