-- Per (day, source), what the tables hold now (after any forget or retention), beside
-- the newest load's counts: the Faces view's Days and `facepipe status`. images counts
-- photos and videos (loaded); photos, videos and video_faces count them apart.
WITH t AS (  -- day_tallies (revision 0013): counted again by every load, forget and retention
    SELECT * FROM {schema}.day_tallies WHERE day BETWEEN %(since)s AND %(until)s
), lr AS (
    SELECT DISTINCT ON (day, source) day, source, images, duplicates, faces, rejects, model, detector, loaded_at
    FROM {schema}.load_runs WHERE day BETWEEN %(since)s AND %(until)s
    ORDER BY day, source, run_no DESC
)
SELECT coalesce(lr.day, t.day) AS day, coalesce(lr.source, t.source) AS source,
       coalesce(t.images, 0) AS images, coalesce(t.duplicates, 0) AS duplicates,
       coalesce(t.faces, 0) AS faces, coalesce(t.rejects, 0) AS rejects,
       coalesce(t.images, 0) - coalesce(t.videos, 0) AS photos, coalesce(t.videos, 0) AS videos,
       coalesce(t.video_faces, 0) AS video_faces,
       lr.images AS loaded_images, lr.duplicates AS loaded_duplicates, lr.faces AS loaded_faces,
       lr.rejects AS loaded_rejects, lr.model, lr.detector, lr.loaded_at
FROM lr
FULL JOIN t ON t.day = lr.day AND t.source = lr.source
ORDER BY 1 DESC, 2;
