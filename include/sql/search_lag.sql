-- How far the search structure is behind the loads: the current generation, the days
-- loaded since it was built (open: searched day by day), their faces as the tables hold
-- them now (after any forget or retention: `facepipe status` shows them beside its table),
-- and the rows it holds that no search reads any more (days loaded again since; faces a
-- forget or retention deleted).
WITH cur AS (
    SELECT gen, built_at, faces, removed FROM {schema}.search_generations WHERE state = 'current'
), loads AS (
    SELECT day, max(run_no) AS run_no FROM {schema}.load_runs GROUP BY day
), days AS (
    SELECT l.day, l.run_no, s.run_no AS sealed_run, s.faces AS sealed_faces
    FROM loads AS l
    LEFT JOIN {schema}.search_sealed_days AS s ON s.gen = (SELECT gen FROM cur) AND s.day = l.day
), now AS (
    SELECT count(*) AS faces FROM {schema}.faces
    WHERE day IN (SELECT day FROM days WHERE sealed_run IS DISTINCT FROM run_no)
)
SELECT (SELECT gen FROM cur), (SELECT built_at FROM cur), coalesce((SELECT faces FROM cur), 0),
       coalesce((SELECT removed FROM cur), 0),
       count(*) FILTER (WHERE sealed_run IS DISTINCT FROM run_no),
       (SELECT faces FROM now),
       coalesce(sum(sealed_faces) FILTER (WHERE sealed_run IS NOT NULL AND sealed_run <> run_no), 0),
       min(day) FILTER (WHERE sealed_run IS DISTINCT FROM run_no),
       (SELECT count(*) FROM {schema}.search_generations WHERE state = 'building')
FROM days;
