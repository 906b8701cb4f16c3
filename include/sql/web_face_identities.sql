-- The identity and person of given faces (keys as search results give them).
SELECT k.day, k.image_id, k.face_no, a.identity_id, p.name
FROM unnest(%(days)s::date[], %(image_ids)s::uuid[], %(face_nos)s::int[]) AS k (day, image_id, face_no)
JOIN {schema}.faces AS f ON f.day = k.day AND f.image_id = k.image_id AND f.face_no = k.face_no
LEFT JOIN {schema}.face_identity AS a
  ON a.day = f.day AND a.image_id = f.image_id
 AND (a.box_x, a.box_y, a.box_w, a.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h)
LEFT JOIN {schema}.identities AS i ON i.identity_id = a.identity_id
LEFT JOIN {schema}.people AS p ON p.person_id = i.person_id;
