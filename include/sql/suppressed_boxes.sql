-- The suppressions of a batch of content hashes: a box, or NULLs for the whole photo.
SELECT content_sha256, box_x, box_y, box_w, box_h
FROM {schema}.suppressions
WHERE content_sha256 = ANY(%(shas)s);
