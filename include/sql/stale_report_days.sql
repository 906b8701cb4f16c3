-- Days loaded in the last 7 days whose reports did not see their newest load (or
-- that have no report): face_report builds them along with the days of its events.
SELECT l.day
FROM {schema}.load_runs AS l
LEFT JOIN {schema}.report_runs AS r ON r.day = l.day
WHERE l.loaded_at > now() - interval '7 days'
GROUP BY l.day, r.load_run_no
HAVING max(l.run_no) > coalesce(r.load_run_no, 0)
ORDER BY l.day;
