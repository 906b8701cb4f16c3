-- For a batch of content hashes: the earliest earlier-day copy of each that was
-- loaded, if any. One query per batch of photos (facepipe.ingest.process.LOOKUP_BATCH):
-- it probes each earlier day's images_content_sha256 index once for the batch.
SELECT DISTINCT ON (content_sha256) content_sha256, uri
FROM {schema}.images
WHERE content_sha256 = ANY(%(shas)s) AND day < %(day)s AND status = 'loaded'
ORDER BY content_sha256, day, uri;
