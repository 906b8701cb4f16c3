-- Runs of this day that were planned more than a day ago and never loaded
-- (failed validation, abandoned): their staged rows are no longer wanted.
SELECT run_id
FROM {schema}.stage_manifest
WHERE day = %(day)s AND run_id <> %(run_id)s
GROUP BY run_id
HAVING max(planned_at) < now() - interval '1 day';
