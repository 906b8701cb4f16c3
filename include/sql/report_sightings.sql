-- 2. Sightings: each face of the day whose nearest enrolled reference is within
-- the threshold, with its best match. person_refs is small: an exact scan.
INSERT INTO {schema}.report_sightings
    (day, image_id, face_no, person_id, person_name, distance, uri, source, camera,
     captured_at, box_x, box_y, box_w, box_h, ref_sha256)
SELECT f.day, f.image_id, f.face_no, best.person_id, p.name, best.distance,
       i.uri, f.source, i.camera, i.captured_at, f.box_x, f.box_y, f.box_w, f.box_h,
       best.content_sha256
FROM {schema}.faces AS f
JOIN {schema}.images AS i USING (day, image_id)
CROSS JOIN LATERAL (
    SELECT r.person_id, r.content_sha256, r.embedding {op} f.embedding AS distance
    FROM {schema}.person_refs AS r
    ORDER BY r.embedding {op} f.embedding
    LIMIT 1
) AS best
JOIN {schema}.people AS p ON p.person_id = best.person_id
WHERE f.day = %(day)s
  AND best.distance < %(threshold)s;
