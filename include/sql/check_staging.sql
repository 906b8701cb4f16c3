-- load's own invariant: what the run staged accounts for every file its plan
-- listed, exactly once, from the plan's source, and nothing else. One pass: the
-- manifest and the staged URIs joined on the URI.
WITH staged AS (
    SELECT uri, count(*) AS copies, bool_and(source IS NOT DISTINCT FROM %(source)s) AS own_source
    FROM (SELECT uri, source FROM {schema}.stage_images WHERE day = %(day)s AND run_id = %(run_id)s
          UNION ALL
          SELECT uri, source FROM {schema}.stage_rejects WHERE day = %(day)s AND run_id = %(run_id)s) AS s
    GROUP BY uri
), matched AS (
    SELECT m.shard, m.uri AS listed, s.uri AS staged_uri, s.copies, s.own_source
    FROM (SELECT shard, uri FROM {schema}.stage_manifest WHERE day = %(day)s AND run_id = %(run_id)s) AS m
    FULL JOIN staged AS s ON s.uri = m.uri
)
SELECT
    count(listed)                                                                   AS listed,
    coalesce(array_agg(DISTINCT shard ORDER BY shard) FILTER (WHERE staged_uri IS NULL), ARRAY[]::int[])
                                                                                    AS unstaged_shards,
    count(*) FILTER (WHERE staged_uri IS NULL)                                      AS unstaged,
    count(*) FILTER (WHERE listed IS NULL)                                          AS unplanned,
    coalesce(sum(copies - 1), 0)                                                    AS twice,
    count(*) FILTER (WHERE NOT own_source)                                          AS other_source,
    (SELECT coalesce(array_agg(g ORDER BY g), ARRAY[]::int[]) FROM generate_series(0, %(shards)s - 1) AS g
      WHERE g NOT IN (SELECT p.shard FROM {schema}.stage_shards AS p
                      WHERE p.day = %(day)s AND p.run_id = %(run_id)s))           AS missing_shards
FROM matched;
