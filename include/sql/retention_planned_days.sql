-- Retention: the days plans listed before the horizon, except each source's latest
-- planned day, which facepipe.ingest.first_seen still needs (a loose file first seen after
-- it came late). Returns the days removed.
WITH gone AS (
    DELETE FROM {schema}.planned_days AS p
    WHERE p.day < %(before)s
      AND p.day < (SELECT max(m.day) FROM {schema}.planned_days AS m WHERE m.source = p.source)
    RETURNING p.day
)
SELECT day, count(*) FROM gone GROUP BY day;
