-- The day_tallies rows of %(days)s counted again from the tables (revision 0013): every
-- (day, source) with a loaded or duplicate image or a reject; none for a day holding nothing.
WITH gone AS (
    DELETE FROM {schema}.day_tallies WHERE day = ANY(%(days)s::date[])
), im AS (
    SELECT day, source,
           count(*) FILTER (WHERE status = 'loaded') AS images,
           count(*) FILTER (WHERE status = 'duplicate') AS duplicates,
           count(*) FILTER (WHERE status = 'loaded' AND media = 'video') AS videos
    FROM {schema}.images WHERE day = ANY(%(days)s::date[]) GROUP BY day, source
), fa AS (
    SELECT day, source, count(*) AS faces, count(*) FILTER (WHERE frame_s IS NOT NULL) AS video_faces
    FROM {schema}.faces WHERE day = ANY(%(days)s::date[]) GROUP BY day, source
), rj AS (
    SELECT day, source, count(*) AS rejects
    FROM {schema}.rejects WHERE day = ANY(%(days)s::date[]) GROUP BY day, source
)
INSERT INTO {schema}.day_tallies (day, source, images, duplicates, videos, faces, video_faces, rejects)
SELECT coalesce(im.day, rj.day, fa.day), coalesce(im.source, rj.source, fa.source),
       coalesce(im.images, 0), coalesce(im.duplicates, 0), coalesce(im.videos, 0),
       coalesce(fa.faces, 0), coalesce(fa.video_faces, 0), coalesce(rj.rejects, 0)
FROM im
FULL JOIN rj ON rj.day = im.day AND rj.source = im.source
FULL JOIN fa ON fa.day = coalesce(im.day, rj.day) AND fa.source = coalesce(im.source, rj.source);
