-- The day's faces that joined no identity wait in the pool for a dense group.
INSERT INTO {schema}.identity_pool (day, image_id, box_x, box_y, box_w, box_h, embedding)
SELECT f.day, f.image_id, f.box_x, f.box_y, f.box_w, f.box_h, f.embedding
FROM {schema}.faces AS f
WHERE f.day = %(day)s
  AND NOT EXISTS (
      SELECT 1 FROM {schema}.face_identity AS a
      WHERE a.day = f.day AND a.image_id = f.image_id
        AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h))
  AND NOT EXISTS (  -- a person said it is not a face
      SELECT 1 FROM {schema}.dismissed_faces AS d
      WHERE d.day = f.day AND d.image_id = f.image_id
        AND (d.box_x, d.box_y, d.box_w, d.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h))
ON CONFLICT DO NOTHING;
