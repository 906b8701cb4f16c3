-- Revision 0003: people. Identities (an enrolled person, or a cluster of unnamed
-- faces), which face belongs to which, the pool of faces waiting for a cluster,
-- the report runs, and the report columns that name identities.
-- {schema}, {vector_type} and {opclass} are bound with psycopg.sql.

-- One row per identity. person_id links it to people (its name); NULL: unnamed.
-- centroid is the mean of its faces' embeddings: a new face is compared with it
-- through the HNSW index below (one graph search per new face, however many
-- faces the identity holds).
CREATE TABLE IF NOT EXISTS {schema}.identities (
    identity_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id   uuid UNIQUE REFERENCES {schema}.people ON DELETE SET NULL,
    faces       integer     NOT NULL DEFAULT 0,
    centroid    {vector_type},          -- NULL while it has no face
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS identities_centroid_hnsw ON {schema}.identities
    USING hnsw (centroid {opclass}) WITH (m = 16, ef_construction = 64);

-- Which identity each face belongs to. Keyed by the face's day, image and box,
-- not by face_no (a re-run may number an image's faces differently): a re-run of
-- a day keeps a face's row when its box is unchanged, and facepipe.people moves
-- the row to the new box of the same image when the boxes overlap (IoU >= 0.5).
-- how: reference (nearest enrolled photo), identity (nearest centroid), cluster
-- (a new identity of dense unassigned faces), manual (people move/merge).
CREATE TABLE IF NOT EXISTS {schema}.face_identity (
    day         date     NOT NULL,
    image_id    uuid     NOT NULL,
    box_x integer NOT NULL, box_y integer NOT NULL, box_w integer NOT NULL, box_h integer NOT NULL,
    identity_id bigint   NOT NULL REFERENCES {schema}.identities,
    how         text     NOT NULL CHECK (how IN ('reference', 'identity', 'cluster', 'manual')),
    distance    real,                   -- at assignment; NULL for manual moves
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, image_id, box_x, box_y, box_w, box_h)
);
CREATE INDEX IF NOT EXISTS face_identity_identity ON {schema}.face_identity (identity_id, day);

-- Faces that joined no identity yet, from the last FACEPIPE_PEOPLE_POOL_DAYS days:
-- each night's new faces look for dense neighbours here (one search each).
CREATE TABLE IF NOT EXISTS {schema}.identity_pool (
    day         date     NOT NULL,
    image_id    uuid     NOT NULL,
    box_x integer NOT NULL, box_y integer NOT NULL, box_w integer NOT NULL, box_h integer NOT NULL,
    embedding   {vector_type} NOT NULL,
    PRIMARY KEY (day, image_id, box_x, box_y, box_w, box_h)
);
CREATE INDEX IF NOT EXISTS identity_pool_embedding_hnsw ON {schema}.identity_pool
    USING hnsw (embedding {opclass}) WITH (m = 16, ef_construction = 64);

-- Which load each day's reports saw (the newest load_runs.run_no of the day when they
-- were built): a day loaded again since, or never reported, is reported by the next
-- face_report run even when Airflow dropped its Asset event (two events at once).
CREATE TABLE IF NOT EXISTS {schema}.report_runs (
    day         date        PRIMARY KEY,
    load_run_no bigint      NOT NULL,
    built_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE {schema}.report_sightings ADD COLUMN IF NOT EXISTS identity_id bigint,
    ADD COLUMN IF NOT EXISTS matched_by text;
ALTER TABLE {schema}.report_recurring_unknowns ADD COLUMN IF NOT EXISTS identity_id bigint,
    ADD COLUMN IF NOT EXISTS identity_faces integer,
    ADD COLUMN IF NOT EXISTS identity_days integer;
