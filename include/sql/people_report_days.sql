-- Report days that show one of these identities: a report day with one of their faces,
-- or whose person_days range (its range_days, default 30) reaches one of their days.
SELECT r.day
FROM {schema}.report_runs AS r
WHERE EXISTS (
    SELECT 1 FROM {schema}.face_identity AS a
    WHERE a.identity_id = ANY(%(ids)s::bigint[])
      AND a.day <= r.day
      AND a.day > r.day - coalesce((r.params ->> 'range_days')::int, 30)
)
ORDER BY r.day;
