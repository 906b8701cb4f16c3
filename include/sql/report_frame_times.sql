-- The frame times of the video faces among a report's rows (their thumbnails are cut
-- from that frame). Photos' faces have none and are not returned.
SELECT f.day, f.image_id, f.face_no, f.frame_s
FROM {schema}.faces AS f
WHERE f.day = ANY(%(days)s) AND f.image_id = ANY(%(ids)s) AND f.frame_s IS NOT NULL;
