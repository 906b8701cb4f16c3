-- The photos of some days that have faces: those whose sidecars a night writes.
SELECT day, image_id
FROM {schema}.images
WHERE day = ANY(%(days)s::date[]) AND status = 'loaded' AND media = 'photo' AND face_count > 0
ORDER BY day, uri;
