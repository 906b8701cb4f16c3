-- The best faces (largest box, then detector score) up to the day of the identities of
-- the recurring unknowns the pages show (the first %(shown)s, in the report's order): their
-- crops in the HTML report and the view's report. Only those (every unnamed identity of a
-- day ranked about 700,000 faces at 1M faces: 15 s a report page, bench/web.py).
WITH shown AS (
    SELECT identity_id FROM {schema}.report_recurring_unknowns
    WHERE day = %(day)s ORDER BY neighbours DESC, uri, face_no LIMIT %(shown)s
), ids AS (
    SELECT DISTINCT s.identity_id
    FROM shown AS s
    JOIN {schema}.identities AS d ON d.identity_id = s.identity_id AND d.person_id IS NULL
), ranked AS (
    SELECT a.identity_id, f.day, f.image_id, f.face_no, f.source, i.uri,
           f.box_x, f.box_y, f.box_w, f.box_h,
           row_number() OVER (PARTITION BY a.identity_id
                              ORDER BY f.box_w * f.box_h DESC, f.det_score DESC, f.day, f.image_id) AS rank
    FROM ids
    JOIN {schema}.face_identity AS a ON a.identity_id = ids.identity_id AND a.day <= %(day)s
    JOIN {schema}.faces AS f
      ON f.day = a.day AND f.image_id = a.image_id
     AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)
    JOIN {schema}.images AS i ON i.day = f.day AND i.image_id = f.image_id
)
SELECT * FROM ranked WHERE rank <= %(best_crops)s + 1
ORDER BY identity_id, rank;
