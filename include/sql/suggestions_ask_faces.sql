-- 'face' questions for unsure faces: one per face and identity, never asked twice
-- (an open, yes or no row for the same face and identity keeps it out).
INSERT INTO {schema}.suggestions (kind, identity_id, day, image_id, box_x, box_y, box_w, box_h, evidence)
SELECT 'face', u.identity_id, u.day, u.image_id, u.box_x, u.box_y, u.box_w, u.box_h,
       u.evidence::jsonb || jsonb_build_object('identity_faces', i.faces)
FROM unnest(%(days)s::date[], %(image_ids)s::uuid[], %(x)s::int[], %(y)s::int[], %(w)s::int[], %(h)s::int[],
            %(ids)s::bigint[], %(evidence)s::text[])
     AS u (day, image_id, box_x, box_y, box_w, box_h, identity_id, evidence)
JOIN {schema}.identities AS i ON i.identity_id = u.identity_id
WHERE NOT EXISTS (
    SELECT 1 FROM {schema}.face_identity AS a
    WHERE a.day = u.day AND a.image_id = u.image_id
      AND (a.box_x, a.box_y, a.box_w, a.box_h) = (u.box_x, u.box_y, u.box_w, u.box_h))
ON CONFLICT DO NOTHING;
