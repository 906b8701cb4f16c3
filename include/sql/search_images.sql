-- The photos of a search's k faces (facepipe.search.query): partition pruning on their few
-- days keeps the plan to those days' partitions, each read through its primary key.
SELECT i.day, i.image_id, i.uri, i.camera, i.captured_at
FROM {schema}.images AS i
WHERE i.day = ANY(%(days)s::date[])
  AND i.image_id = ANY(%(image_ids)s::uuid[]);
