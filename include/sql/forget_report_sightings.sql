-- A forget's sightings: the person's, the identity's, those of the faces it removes, and
-- those that show a forgotten reference photo (the day is rebuilt with the others).
DELETE FROM {schema}.report_sightings
WHERE person_id = %(person_id)s OR identity_id = %(identity_id)s
   OR (day, image_id, face_no) IN (SELECT day, image_id, face_no FROM forget_faces)
   OR ref_sha256 IN (SELECT content_sha256 FROM {schema}.suppressions WHERE op_no = %(op_no)s);
