-- Runs planned more than FACEPIPE_STAGING_KEEP_DAYS days ago (any day, loaded or not): their
-- staged rows are no longer kept for a Clear. The run being planned is never
-- among them. Manifests from before stage_plans existed are found by planned_at.
SELECT day, run_id
FROM {schema}.stage_plans
WHERE planned_at < now() - make_interval(days => %(keep_days)s)
  AND NOT (day = %(day)s AND run_id = %(run_id)s)
UNION
SELECT day, run_id
FROM {schema}.stage_manifest
WHERE NOT (day = %(day)s AND run_id = %(run_id)s)
GROUP BY day, run_id
HAVING max(planned_at) < now() - make_interval(days => %(keep_days)s);
