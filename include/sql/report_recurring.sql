-- 3. Recurring unknowns: each face of the day whose identity is unnamed and has
-- been seen on at least %(min_days)s days up to the report's day (facepipe.people
-- groups faces into identities as each day is loaded). neighbours and days_seen:
-- the identity's faces and distinct days in the %(lookback_days)s days before;
-- first_seen, identity_faces and identity_days: over its whole history up to the day.
-- Reads face_identity by identity (its index), no vector search.
INSERT INTO {schema}.report_recurring_unknowns
    (day, image_id, face_no, neighbours, days_seen, first_seen, uri, source, captured_at,
     box_x, box_y, box_w, box_h, identity_id, identity_faces, identity_days)
WITH today AS MATERIALIZED (
    SELECT a.* FROM {schema}.face_identity AS a
    JOIN {schema}.identities AS d ON d.identity_id = a.identity_id AND d.person_id IS NULL
     AND d.hidden_at IS NULL  -- a hidden identity: not listed
    WHERE a.day = %(day)s
), seen AS (
    SELECT b.identity_id,
           count(*) AS faces, count(DISTINCT b.day) AS days, min(b.day) AS first_day,
           count(*) FILTER (WHERE b.day >= %(day)s::date - %(lookback_days)s AND b.day < %(day)s) AS before_faces,
           count(DISTINCT b.day) FILTER (WHERE b.day >= %(day)s::date - %(lookback_days)s
                                           AND b.day < %(day)s) AS before_days
    FROM {schema}.face_identity AS b
    WHERE b.identity_id IN (SELECT identity_id FROM today) AND b.day <= %(day)s
    GROUP BY b.identity_id
)
SELECT f.day, f.image_id, f.face_no, s.before_faces, s.before_days, s.first_day,
       i.uri, f.source, i.captured_at, f.box_x, f.box_y, f.box_w, f.box_h,
       t.identity_id, s.faces, s.days
FROM today AS t
JOIN {schema}.faces AS f
  ON f.day = t.day AND f.image_id = t.image_id
 AND (f.box_x, f.box_y, f.box_w, f.box_h) = (t.box_x, t.box_y, t.box_w, t.box_h)
JOIN {schema}.images AS i ON i.day = f.day AND i.image_id = f.image_id
JOIN seen AS s ON s.identity_id = t.identity_id
WHERE s.days >= %(min_days)s;
