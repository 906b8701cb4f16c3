-- A forget's sightings: the person's, the identity's, and those of the faces it removes.
DELETE FROM {schema}.report_sightings
WHERE person_id = %(person_id)s OR identity_id = %(identity_id)s
   OR (day, image_id, face_no) IN (SELECT day, image_id, face_no FROM forget_faces);
