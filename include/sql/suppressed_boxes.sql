-- The suppressions of a batch of content hashes: a box (and a video face's frame time), or
-- NULLs for the whole photo.
SELECT content_sha256, box_x, box_y, box_w, box_h, frame_s
FROM {schema}.suppressions
WHERE content_sha256 = ANY(%(shas)s);
