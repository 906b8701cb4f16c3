-- Replace step 1: the day's images from the run's staging rows. Within a day the
-- same content at several URIs is loaded once (the first URI in sort order);
-- the other copies are kept as status 'duplicate', pointing at it.
WITH staged AS (
    SELECT s.*,
           min(s.uri) FILTER (WHERE s.status = 'loaded')
               OVER (PARTITION BY s.content_sha256) AS first_uri
    FROM {schema}.stage_images AS s
    WHERE s.day = %(day)s AND s.run_id = %(run_id)s
)
INSERT INTO {schema}.{images_part}
    (day, image_id, uri, content_sha256, bytes, width, height, captured_at, camera,
     source, arrived_at, status, duplicate_of, face_count, media, duration_s)
SELECT day, image_id, uri, content_sha256, bytes, width, height, captured_at, camera,
       source, arrived_at,
       CASE WHEN status = 'loaded' AND uri <> first_uri THEN 'duplicate' ELSE status END,
       CASE WHEN status = 'loaded' AND uri <> first_uri THEN first_uri ELSE duplicate_of END,
       CASE WHEN status = 'loaded' AND uri <> first_uri THEN 0 ELSE face_count END,
       media, duration_s
FROM staged;
