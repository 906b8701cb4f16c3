-- The IVF's candidates (search_ivf.sql, ranked by their halfvec distance) re-ranked by their
-- exact vectors in faces: the k nearest. Each candidate is one lookup of its day's primary
-- key (the LIMIT keeps the planner from turning the lookups into a join that reads the
-- candidates' whole days); the candidates' days prune the plan to those days' partitions.
SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h, f.distance
FROM unnest(%(c_days)s::date[], %(c_images)s::uuid[], %(c_faces)s::smallint[]) AS c(day, image_id, face_no)
CROSS JOIN LATERAL (
    SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h,
           (f.embedding {op} %(query)s) + 0 AS distance
    FROM {schema}.faces AS f
    WHERE f.day = ANY(%(days)s::date[])
      AND f.day = c.day AND f.image_id = c.image_id AND f.face_no = c.face_no
    LIMIT 1
) AS f
ORDER BY f.distance, f.day, f.image_id, f.face_no
LIMIT %(k)s;
