-- Earlier audit rows that name a forgotten person (name, was), act on their identity,
-- or point at a face of a forgotten photo or person keep their op, time, actor and counts only.
UPDATE {schema}.audit
SET detail = jsonb_build_object('scrubbed_by', %(op_no)s)
WHERE op_no <> %(op_no)s
  AND (identity_id = %(identity_id)s OR other_id = %(identity_id)s
       OR %(name)s IN (detail ->> 'name', detail ->> 'was')
       OR (detail ->> 'image_id') = ANY(%(image_ids)s::text[])
       -- the faces named by add_faces and dismiss (keys), and by a merge's undo record
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(detail -> 'keys', '[]'::jsonb)) AS k
                  WHERE k ->> 'image_id' = ANY(%(image_ids)s::text[]))
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(detail -> 'undo' -> 'faces', '[]'::jsonb)) AS k
                  WHERE k ->> 1 = ANY(%(image_ids)s::text[])));
