-- One loaded photo (or video) for the Faces view's photo page.
SELECT uri, source, width, height, media, captured_at, camera
FROM {schema}.images
WHERE day = %(day)s AND image_id = %(image_id)s AND status = 'loaded';
