-- Suggestions (facepipe people suggestions, the Faces view's Suggestions page), oldest
-- first: the face's number and photo (kind face) and each identity's name and faces.
SELECT s.suggestion_id, s.kind, s.state, s.identity_id, pa.name AS identity_name, ia.faces AS identity_faces,
       s.other_id, pb.name AS other_name, ib.faces AS other_faces,
       s.day, s.image_id, f.face_no, im.uri, s.evidence, s.asked_at, s.answered_by, s.answered_at
FROM {schema}.suggestions AS s
JOIN {schema}.identities AS ia ON ia.identity_id = s.identity_id
LEFT JOIN {schema}.people AS pa ON pa.person_id = ia.person_id
LEFT JOIN {schema}.identities AS ib ON ib.identity_id = s.other_id
LEFT JOIN {schema}.people AS pb ON pb.person_id = ib.person_id
LEFT JOIN {schema}.faces AS f
  ON f.day = s.day AND f.image_id = s.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (s.box_x, s.box_y, s.box_w, s.box_h)
LEFT JOIN {schema}.images AS im ON im.day = s.day AND im.image_id = s.image_id
WHERE (%(state)s::text IS NULL OR s.state = %(state)s::text)
  AND (%(suggestion_id)s::bigint IS NULL OR s.suggestion_id = %(suggestion_id)s::bigint)
ORDER BY s.suggestion_id
LIMIT %(limit)s OFFSET %(offset)s;
