-- A search generation's build: one day's faces copied into the new generation's
-- table, with the day's newest load, in one statement (one snapshot: the rows and the
-- run number agree). One short transaction per day, so a load of that day waits at most
-- for this copy. A day retention dropped meanwhile copies nothing and is not recorded.
WITH copied AS (
    INSERT INTO {schema}.{sealed} (day, image_id, face_no, source, box_x, box_y, box_w, box_h, embedding)
    SELECT f.day, f.image_id, f.face_no, f.source, f.box_x, f.box_y, f.box_w, f.box_h, f.embedding
    FROM {schema}.faces AS f
    WHERE f.day = %(day)s
    RETURNING 1
)
INSERT INTO {schema}.search_sealed_days (gen, day, run_no, faces)
SELECT %(gen)s, %(day)s, r.run_no, (SELECT count(*) FROM copied)
FROM (SELECT max(run_no) AS run_no FROM {schema}.load_runs WHERE day = %(day)s) AS r
WHERE r.run_no IS NOT NULL
RETURNING faces;
