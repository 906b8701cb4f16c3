-- A forget's faces (the temp table forget_faces, filled by facepipe.privacy.forget)
-- deleted from a search generation, in the forget's transaction.
DELETE FROM {schema}.{sealed} AS s
WHERE (s.day, s.image_id, s.box_x, s.box_y, s.box_w, s.box_h) IN
      (SELECT day, image_id, box_x, box_y, box_w, box_h FROM forget_faces);
