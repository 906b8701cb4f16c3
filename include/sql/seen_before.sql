-- The earliest earlier-day copy of this content, if any was loaded.
SELECT uri, day
FROM {schema}.images
WHERE content_sha256 = %(sha)s AND day < %(day)s AND status = 'loaded'
ORDER BY day, uri
LIMIT 1;
