-- 2. Sightings: each face of the day whose identity is a person (enrolled, or an
-- identity someone named; facepipe.people assigns faces to identities). distance
-- and ref_sha256: the person's nearest reference photo, if they have any (an exact
-- scan of their few refs); else the identity's centroid and ''. matched_by says
-- which: 'reference' when a reference photo is within the threshold, else 'identity'.
-- A hidden identity (facepipe.people.hiding) is left out, and so out of person-days too.
INSERT INTO {schema}.report_sightings
    (day, image_id, face_no, person_id, person_name, distance, uri, source, camera,
     captured_at, box_x, box_y, box_w, box_h, ref_sha256, identity_id, matched_by)
SELECT f.day, f.image_id, f.face_no, p.person_id, p.name,
       coalesce(best.distance, d.centroid {op} f.embedding, 0),
       i.uri, f.source, i.camera, i.captured_at, f.box_x, f.box_y, f.box_w, f.box_h,
       coalesce(best.content_sha256, ''), d.identity_id,
       CASE WHEN best.distance < %(threshold)s THEN 'reference' ELSE 'identity' END
FROM {schema}.faces AS f
JOIN {schema}.images AS i USING (day, image_id)
JOIN {schema}.face_identity AS a
  ON a.day = f.day AND a.image_id = f.image_id
 AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)
JOIN {schema}.identities AS d ON d.identity_id = a.identity_id AND d.hidden_at IS NULL  -- a hidden person: not listed
JOIN {schema}.people AS p ON p.person_id = d.person_id
LEFT JOIN LATERAL (
    SELECT r.content_sha256, r.embedding {op} f.embedding AS distance
    FROM {schema}.person_refs AS r
    WHERE r.person_id = p.person_id
    ORDER BY r.embedding {op} f.embedding
    LIMIT 1
) AS best ON true
WHERE f.day = %(day)s;
