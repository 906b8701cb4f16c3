-- Earlier audit rows that name a forgotten person (name, was), act on their identity,
-- or point at a face of a forgotten photo keep their op, time, actor and counts only.
UPDATE {schema}.audit
SET detail = jsonb_build_object('scrubbed_by', %(op_no)s)
WHERE op_no <> %(op_no)s
  AND (identity_id = %(identity_id)s OR other_id = %(identity_id)s
       OR %(name)s IN (detail ->> 'name', detail ->> 'was')
       OR (detail ->> 'image_id') = ANY(%(image_ids)s::text[]));
