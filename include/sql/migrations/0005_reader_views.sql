-- Revision 0005: the reader contract. Downstream reports and dashboards read these
-- views, in a schema of their own ({reader}, default facepipe_reader), never the
-- internal tables: the tables may change between versions, the views change only in
-- a revision that says so (docs/using.md documents them column by column). No view
-- shows a vector, staging, the pool of unassigned faces, suppressions or templates,
-- or the audit's detail. `facepipe grant-reader ROLE` grants these views only.
CREATE SCHEMA IF NOT EXISTS {reader};

-- One row per source image that loaded (status loaded or duplicate).
CREATE OR REPLACE VIEW {reader}.images AS
SELECT day, image_id, uri, content_sha256, bytes, width, height, captured_at, camera, source,
       arrived_at, status, duplicate_of, face_count
FROM {schema}.images;

-- One row per detected face, without its vector; identity_id where the face has one.
CREATE OR REPLACE VIEW {reader}.faces AS
SELECT f.day, f.image_id, f.face_no, f.box_x, f.box_y, f.box_w, f.box_h, f.source, f.detector,
       f.det_score, f.model, fi.identity_id
FROM {schema}.faces f
LEFT JOIN {schema}.face_identity fi
       ON fi.day = f.day AND fi.image_id = f.image_id
      AND (fi.box_x, fi.box_y, fi.box_w, fi.box_h) = (f.box_x, f.box_y, f.box_w, f.box_h);

-- Every input that could not be processed, with its reason.
CREATE OR REPLACE VIEW {reader}.rejects AS
SELECT day, uri, reason, detail, bytes, arrived_at, source
FROM {schema}.rejects;

-- One row per identity: a named person or a group of unnamed faces.
CREATE OR REPLACE VIEW {reader}.identities AS
SELECT i.identity_id, p.name AS person_name, i.faces, seen.days_seen, seen.first_seen, seen.last_seen,
       i.created_at, i.updated_at
FROM {schema}.identities i
LEFT JOIN {schema}.people p ON p.person_id = i.person_id
LEFT JOIN (SELECT identity_id, count(DISTINCT day) AS days_seen, min(day) AS first_seen, max(day) AS last_seen
           FROM {schema}.face_identity GROUP BY identity_id) seen ON seen.identity_id = i.identity_id;

-- One row per enrolled or named person.
CREATE OR REPLACE VIEW {reader}.people AS
SELECT p.name AS person_name, p.enrolled_at, i.identity_id,
       (SELECT count(*) FROM {schema}.person_refs r WHERE r.person_id = p.person_id) AS reference_photos
FROM {schema}.people p
LEFT JOIN {schema}.identities i ON i.person_id = p.person_id;

-- Faces of enrolled or named people seen on a report's day (face_report).
CREATE OR REPLACE VIEW {reader}.sightings AS
SELECT day, image_id, face_no, identity_id, person_name, distance, matched_by, uri, source, camera,
       captured_at, box_x, box_y, box_w, box_h
FROM {schema}.report_sightings;

-- Per (day, source, camera): images, duplicates, faces, rejects (face_report).
CREATE OR REPLACE VIEW {reader}.day_summary AS
SELECT day, source, camera, images, duplicates, faces, rejects, faces_per_image
FROM {schema}.report_daily_summary;

-- Unknown faces of a report's day that keep coming back (face_report).
CREATE OR REPLACE VIEW {reader}.recurring_unknowns AS
SELECT day, image_id, face_no, identity_id, identity_faces, identity_days, neighbours, days_seen, first_seen,
       uri, source, captured_at, box_x, box_y, box_w, box_h
FROM {schema}.report_recurring_unknowns;

-- Per report day, person, day seen and source: sightings over the report's range.
CREATE OR REPLACE VIEW {reader}.person_days AS
SELECT day, person_id, person_name, seen_day, source, sightings, best_distance
FROM {schema}.report_person_days;

-- The newest load of each (day, source): what the tables hold, by which model and detector.
CREATE OR REPLACE VIEW {reader}.loads AS
SELECT DISTINCT ON (day, source) day, source, detector, model, images, duplicates, faces, rejects, loaded_at
FROM {schema}.load_runs
ORDER BY day, source, run_no DESC;

-- What operators and nightly runs did, with counts of the rows changed; not the detail.
CREATE OR REPLACE VIEW {reader}.audit_counts AS
SELECT op_no, at, who, op, rows
FROM {schema}.audit;
