-- Revision 0012: unassigned faces grouped for a person to decide on, faces dismissed as
-- not a face, and hidden identities.
--
-- unassigned_groups / unassigned_members: the pooled faces (identity_pool: the faces of the
-- last people_pool_days days that joined no identity) grouped by likeness
-- (facepipe.people.unassigned): faces within the join distance of each other, at most one
-- face per photo in a group, with the identity nearest the group's centre when it is within
-- the model's threshold. Derived data, made again after each night's assignment; a member
-- leaves with its pool row (a face assigned, forgotten, or past the pool's days). No vector.
CREATE TABLE IF NOT EXISTS {schema}.unassigned_groups (
    group_id       bigint  PRIMARY KEY,
    size           integer NOT NULL,
    near_identity  bigint  REFERENCES {schema}.identities ON DELETE SET NULL,
    near_distance  real
);
CREATE INDEX IF NOT EXISTS unassigned_groups_size ON {schema}.unassigned_groups (size DESC, group_id);
CREATE TABLE IF NOT EXISTS {schema}.unassigned_members (
    day         date     NOT NULL,
    image_id    uuid     NOT NULL,
    box_x integer NOT NULL, box_y integer NOT NULL, box_w integer NOT NULL, box_h integer NOT NULL,
    group_id    bigint   NOT NULL REFERENCES {schema}.unassigned_groups ON DELETE CASCADE,
    PRIMARY KEY (day, image_id, box_x, box_y, box_w, box_h),
    FOREIGN KEY (day, image_id, box_x, box_y, box_w, box_h)
        REFERENCES {schema}.identity_pool ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS unassigned_members_group ON {schema}.unassigned_members (group_id);
-- When the groups were made: the newest audit op_no they include, and how many faces.
CREATE TABLE IF NOT EXISTS {schema}.unassigned_built (
    one      boolean     PRIMARY KEY DEFAULT true CHECK (one),
    op_no    bigint      NOT NULL,
    faces    integer     NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
);

-- dismissed_faces: detections a person said are not a face (a cartoon, a pattern). The face's
-- row stays in faces (what the detector found); it leaves the pool, joins no identity and is
-- not offered again. Each dismissal is an audit row (op 'dismiss'); forget and retention
-- delete the rows of the faces they remove.
CREATE TABLE IF NOT EXISTS {schema}.dismissed_faces (
    day          date        NOT NULL,
    image_id     uuid        NOT NULL,
    box_x integer NOT NULL, box_y integer NOT NULL, box_w integer NOT NULL, box_h integer NOT NULL,
    dismissed_by text        NOT NULL,
    dismissed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, image_id, box_x, box_y, box_w, box_h)
);

-- identities.hidden_at: a hidden identity stays stored, assigned and searchable, but is out
-- of the People grid and the day reports' sightings by default (op 'hide' / 'unhide').
ALTER TABLE {schema}.identities ADD COLUMN IF NOT EXISTS hidden_at timestamptz;

-- The reader view of identities says which are hidden (a column at the end, as 0008 added
-- its columns), so that a dashboard can leave them out as the reports do.
CREATE OR REPLACE VIEW {reader}.identities AS
SELECT i.identity_id, p.name AS person_name, i.faces, seen.days_seen, seen.first_seen, seen.last_seen,
       i.created_at, i.updated_at, i.hidden_at IS NOT NULL AS hidden
FROM {schema}.identities i
LEFT JOIN {schema}.people p ON p.person_id = i.person_id
LEFT JOIN (SELECT identity_id, count(DISTINCT day) AS days_seen, min(day) AS first_seen, max(day) AS last_seen
           FROM {schema}.face_identity GROUP BY identity_id) seen ON seen.identity_id = i.identity_id;
