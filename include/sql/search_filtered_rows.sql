-- The faces a search of a day range (of one source, if given) would have to read, and the
-- faces of every day: each (day, source)'s newest load counted them (load_runs, a row a run:
-- cheap where an EXPLAIN of faces plans every day's partition). A forget since makes them an
-- upper bound. facepipe.search chooses the exact or the IVF path, and how many lists, by them.
WITH newest AS (
    SELECT DISTINCT ON (day, source) day, source, faces
    FROM {schema}.load_runs
    ORDER BY day, source, run_no DESC
)
SELECT coalesce(sum(faces) FILTER (WHERE day BETWEEN %(since)s AND %(until)s
                                   AND (%(source)s::text IS NULL OR source = %(source)s::text)), 0)::bigint,
       coalesce(sum(faces), 0)::bigint
FROM newest;
