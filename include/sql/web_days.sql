-- Per (day, source), what the tables hold now (after any forget or retention), beside
-- the newest load's counts: the Faces view's Days and `facepipe status`. images counts
-- photos and videos (loaded); photos, videos and video_faces count them apart.
WITH im AS (
    SELECT day, source,
           count(*) FILTER (WHERE status = 'loaded') AS images,
           count(*) FILTER (WHERE status = 'duplicate') AS duplicates,
           count(*) FILTER (WHERE status = 'loaded' AND media = 'video') AS videos
    FROM {schema}.images WHERE day BETWEEN %(since)s AND %(until)s GROUP BY day, source
), fa AS (
    SELECT day, source, count(*) AS faces, count(*) FILTER (WHERE frame_s IS NOT NULL) AS video_faces
    FROM {schema}.faces WHERE day BETWEEN %(since)s AND %(until)s GROUP BY day, source
), rj AS (
    SELECT day, source, count(*) AS rejects
    FROM {schema}.rejects WHERE day BETWEEN %(since)s AND %(until)s GROUP BY day, source
), lr AS (
    SELECT DISTINCT ON (day, source) day, source, images, duplicates, faces, rejects, model, detector, loaded_at
    FROM {schema}.load_runs WHERE day BETWEEN %(since)s AND %(until)s
    ORDER BY day, source, run_no DESC
)
SELECT coalesce(lr.day, im.day, rj.day) AS day,
       coalesce(lr.source, im.source, rj.source) AS source,
       coalesce(im.images, 0) AS images, coalesce(im.duplicates, 0) AS duplicates,
       coalesce(fa.faces, 0) AS faces, coalesce(rj.rejects, 0) AS rejects,
       coalesce(im.images, 0) - coalesce(im.videos, 0) AS photos, coalesce(im.videos, 0) AS videos,
       coalesce(fa.video_faces, 0) AS video_faces,
       lr.images AS loaded_images, lr.duplicates AS loaded_duplicates, lr.faces AS loaded_faces,
       lr.rejects AS loaded_rejects, lr.model, lr.detector, lr.loaded_at
FROM lr
FULL JOIN im ON im.day = lr.day AND im.source = lr.source
FULL JOIN rj ON rj.day = coalesce(lr.day, im.day) AND rj.source = coalesce(lr.source, im.source)
LEFT JOIN fa ON fa.day = coalesce(lr.day, im.day, rj.day) AND fa.source = coalesce(lr.source, im.source, rj.source)
ORDER BY 1 DESC, 2;
