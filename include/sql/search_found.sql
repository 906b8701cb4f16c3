-- The boxes and photos of a search's k faces (facepipe.search.query): partition pruning on
-- their few days keeps the plan to those days' partitions.
SELECT f.day, f.image_id, f.face_no, i.uri, i.camera, i.captured_at, f.box_x, f.box_y, f.box_w, f.box_h
FROM {schema}.faces AS f
JOIN {schema}.images AS i USING (day, image_id)
WHERE f.day = ANY(%(days)s::date[])
  AND i.day = ANY(%(days)s::date[])
  AND f.image_id = ANY(%(image_ids)s::uuid[]);
