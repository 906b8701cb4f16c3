-- Replace step 3: the day's rejects (the old ones were deleted just before).
INSERT INTO {schema}.rejects (day, uri, reason, detail, bytes, arrived_at, source)
SELECT day, uri, reason, detail, bytes, arrived_at, source
FROM {schema}.stage_rejects
WHERE day = %(day)s AND run_id = %(run_id)s;
