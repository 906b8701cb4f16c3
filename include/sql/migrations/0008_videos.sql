-- Revision 0008: videos. A video is one row of images (media 'video', its length in
-- duration_s) and one row of faces per track of the same person within it: the box
-- and vector of the track's best frame, that frame's time (frame_s, seconds from the
-- video's start; crops are cut from it) and the first and last second the track was
-- seen (first_s, last_s). Photos keep media 'photo' and NULL times. Constant defaults:
-- no partition is rewritten.
ALTER TABLE {schema}.images
    ADD COLUMN IF NOT EXISTS media text NOT NULL DEFAULT 'photo' CHECK (media IN ('photo', 'video')),
    ADD COLUMN IF NOT EXISTS duration_s real;
ALTER TABLE {schema}.faces
    ADD COLUMN IF NOT EXISTS frame_s real,
    ADD COLUMN IF NOT EXISTS first_s real,
    ADD COLUMN IF NOT EXISTS last_s real;
-- A forgotten face of a video is its box at its frame time: another person's track at the
-- same place at another time is not that face.
ALTER TABLE {schema}.suppressions ADD COLUMN IF NOT EXISTS frame_s real;
ALTER TABLE {schema}.stage_images
    ADD COLUMN IF NOT EXISTS media text NOT NULL DEFAULT 'photo',
    ADD COLUMN IF NOT EXISTS duration_s real;
ALTER TABLE {schema}.stage_faces
    ADD COLUMN IF NOT EXISTS frame_s real,
    ADD COLUMN IF NOT EXISTS first_s real,
    ADD COLUMN IF NOT EXISTS last_s real;

-- The reader contract gains the columns at the end of its views (nothing else changes).
CREATE OR REPLACE VIEW {reader}.images AS
SELECT day, image_id, uri, content_sha256, bytes, width, height, captured_at, camera, source,
       arrived_at, status, duplicate_of, face_count, media, duration_s
FROM {schema}.images;

CREATE OR REPLACE VIEW {reader}.faces AS
SELECT f.day, f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, f.source, f.detector,
       f.det_score, f.model, fi.identity_id, f.frame_s, f.first_s, f.last_s
FROM {schema}.faces f
LEFT JOIN {schema}.face_identity fi
       ON fi.day = f.day AND fi.image_id = f.image_id
      AND (fi.box_x, fi.box_y, fi.box_w, fi.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h);

-- The day report's summary counts videos apart (of images and of faces).
ALTER TABLE {schema}.report_daily_summary
    ADD COLUMN IF NOT EXISTS videos integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS video_faces integer NOT NULL DEFAULT 0;
CREATE OR REPLACE VIEW {reader}.day_summary AS
SELECT day, source, camera, images, duplicates, faces, rejects, faces_per_image, videos, video_faces
FROM {schema}.report_daily_summary;
