-- A forget's recurring unknowns: the identity's, and those of the faces it removes.
DELETE FROM {schema}.report_recurring_unknowns
WHERE identity_id = %(identity_id)s
   OR (day, image_id, face_no) IN (SELECT day, image_id, face_no FROM forget_faces);
