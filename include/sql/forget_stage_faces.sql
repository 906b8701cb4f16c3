-- Staged faces of a forget's suppressions: the whole photo, or a box that overlaps a
-- suppressed one (every run's staging, so that a Clear cannot load them again).
DELETE FROM {schema}.stage_faces AS s
USING {schema}.stage_images AS si, {schema}.suppressions AS x
WHERE si.day = s.day AND si.run_id = s.run_id AND si.image_id = s.image_id
  AND x.op_no = %(op_no)s AND x.content_sha256 = si.content_sha256
  AND (x.box_x IS NULL
       OR ({schema}.box_iou(x.box_x, x.box_y, x.box_w, x.box_h, s.box_x, s.box_y, s.box_w, s.box_h) >= %(min_iou)s
           -- a video's track: the forgotten frame time within its span (a sample apart)
           AND (x.frame_s IS NULL OR s.first_s IS NULL
                OR x.frame_s BETWEEN s.first_s - %(span_slack)s AND s.last_s + %(span_slack)s)));
