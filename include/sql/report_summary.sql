-- 1. Daily summary per source and camera: images, duplicates, faces, rejects; of the
-- images and faces, those of videos (one face per track).
INSERT INTO {schema}.report_daily_summary
    (day, source, camera, images, duplicates, faces, rejects, faces_per_image, videos, video_faces)
WITH per_image AS (
    SELECT source, coalesce(camera, '') AS camera,
           count(*) FILTER (WHERE status = 'loaded')    AS images,
           count(*) FILTER (WHERE status = 'duplicate') AS duplicates,
           sum(face_count)                              AS faces,
           count(*) FILTER (WHERE status = 'loaded' AND media = 'video') AS videos,
           sum(face_count) FILTER (WHERE media = 'video') AS video_faces
    FROM {schema}.images
    WHERE day = %(day)s
    GROUP BY 1, 2
), rejected AS (
    SELECT coalesce(source, '') AS source, '' AS camera, count(*) AS rejects
    FROM {schema}.rejects
    WHERE day = %(day)s
    GROUP BY 1
)
SELECT %(day)s, source, camera,
       coalesce(p.images, 0), coalesce(p.duplicates, 0), coalesce(p.faces, 0),
       coalesce(r.rejects, 0),
       round(p.faces::numeric / nullif(p.images, 0), 2),
       coalesce(p.videos, 0), coalesce(p.video_faces, 0)
FROM per_image AS p
FULL JOIN rejected AS r USING (source, camera);
