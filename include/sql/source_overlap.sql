-- Files of this run that the day already holds from another source (two sources
-- that overlap, e.g. a folder and one of its own dated sub-folders).
SELECT other_source, count(*)
FROM (
    SELECT i.source AS other_source
    FROM {schema}.stage_images AS s
    JOIN {schema}.images AS i ON i.day = s.day AND i.image_id = s.image_id
    WHERE s.day = %(day)s AND s.run_id = %(run_id)s AND i.source <> %(source)s
    UNION ALL
    SELECT r.source
    FROM {schema}.stage_rejects AS s
    JOIN {schema}.rejects AS r ON r.day = s.day AND r.uri = s.uri
    WHERE s.day = %(day)s AND s.run_id = %(run_id)s AND r.source IS DISTINCT FROM %(source)s
) AS o
GROUP BY other_source
ORDER BY other_source;
