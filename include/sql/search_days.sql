-- The day range's loaded days for a search over every day: each day's newest load
-- (load_runs), and whether the current search generation holds the day as of that
-- load (sealed: searched in its graph) or not (open: searched in the day's partition).
-- %(gen)s NULL: no generation yet, every day is open.
SELECT l.day, l.run_no, (s.run_no IS NOT NULL AND s.run_no = l.run_no) AS sealed,
       coalesce(s.faces, 0) AS sealed_faces
FROM (
    SELECT day, max(run_no) AS run_no
    FROM {schema}.load_runs
    WHERE day BETWEEN %(since)s AND %(until)s
    GROUP BY day
) AS l
LEFT JOIN {schema}.search_sealed_days AS s
  ON s.gen = %(gen)s AND s.day = l.day
ORDER BY l.day;
