-- facepipe schema, applied idempotently by facepipe.db.ensure_schema().
-- {schema} and {vector_type} are filled in with psycopg.sql (Identifier / SQL),
-- never with string formatting. embedding_space is created (and checked) first,
-- so a schema built for one model is never extended with another model's vectors.

CREATE TABLE IF NOT EXISTS {schema}.images (
    day            date        NOT NULL,
    image_id       uuid        NOT NULL,   -- uuid5 of the source URI
    uri            text        NOT NULL,
    content_sha256 text        NOT NULL,
    bytes          bigint      NOT NULL,
    width          integer,                -- upright (EXIF-rotated) size
    height         integer,
    captured_at    timestamp,              -- EXIF DateTimeOriginal, camera local time
    camera         text,                   -- EXIF Model
    source         text        NOT NULL,
    arrived_at     timestamptz NOT NULL,
    status         text        NOT NULL CHECK (status IN ('loaded', 'duplicate')),
    duplicate_of   text,                   -- for status 'duplicate': URI of the copy that was loaded
    face_count     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (day, image_id)
) PARTITION BY RANGE (day);
-- finds an earlier day's copy of the same content
CREATE INDEX IF NOT EXISTS images_content_sha256 ON {schema}.images (content_sha256);

CREATE TABLE IF NOT EXISTS {schema}.faces (
    day        date     NOT NULL,
    image_id   uuid     NOT NULL,
    face_no    smallint NOT NULL,
    box_x      integer  NOT NULL,   -- pixels in the upright full-size image
    box_y      integer  NOT NULL,
    box_w      integer  NOT NULL,
    box_h      integer  NOT NULL,
    source     text     NOT NULL,   -- the image's source, kept here for filtered similarity queries
    detector   text     NOT NULL,
    det_score  real     NOT NULL,
    model      text     NOT NULL,
    embedding  {vector_type} NOT NULL,
    PRIMARY KEY (day, image_id, face_no)
) PARTITION BY RANGE (day);
-- face search with a selective source filter reads the source's rows through this
-- index and computes every distance (exact), instead of the HNSW indexes
CREATE INDEX IF NOT EXISTS faces_source ON {schema}.faces (source);

CREATE TABLE IF NOT EXISTS {schema}.rejects (
    day        date        NOT NULL,
    uri        text        NOT NULL,
    reason     text        NOT NULL,   -- short code: unreadable, too_large, outside_source, ...
    detail     text        NOT NULL,
    bytes      bigint,
    arrived_at timestamptz,
    source     text,
    PRIMARY KEY (day, uri)
);

CREATE TABLE IF NOT EXISTS {schema}.load_runs (
    run_no     bigserial   PRIMARY KEY,
    day        date        NOT NULL,
    run_id     text        NOT NULL,
    source     text        NOT NULL,
    detector   text        NOT NULL,
    model      text        NOT NULL,
    images     integer     NOT NULL,
    duplicates integer     NOT NULL,
    faces      integer     NOT NULL,
    rejects    integer     NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS load_runs_day ON {schema}.load_runs (day);

-- Folder sources: when each loose file (outside the dated folders) was first seen
-- and the arrival time decided then, which fixes its day (facepipe.first_seen).
CREATE TABLE IF NOT EXISTS {schema}.first_seen (
    uri        text        PRIMARY KEY,
    arrived_at timestamptz NOT NULL,   -- the file belongs to this time's UTC day
    why        text        NOT NULL CHECK (why IN ('mtime', 'ctime', 'first_seen')),
    seen_at    timestamptz NOT NULL
);

-- The days a plan has listed, per source: a loose file first seen after its mtime's
-- day was planned came late and goes to a later day.
CREATE TABLE IF NOT EXISTS {schema}.planned_days (
    source     text        NOT NULL,
    day        date        NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, day)
);

-- Staging, written by plan and process(shard) and read by validate and load. Rows
-- are keyed by run so that two runs never see each other's work. Which run loaded
-- a (day, source) is in load_runs, not in the rows, so a re-run leaves identical rows.
CREATE TABLE IF NOT EXISTS {schema}.stage_manifest (
    day        date        NOT NULL,
    run_id     text        NOT NULL,
    shard      integer     NOT NULL,
    uri        text        NOT NULL,
    bytes      bigint,
    arrived_at timestamptz NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, run_id, uri)
);


-- One row per planned run of a day: the source it lists and how many files and
-- shards its manifest holds. load checks the staged rows against it, so a run
-- never publishes less than its plan listed; a run without a plan row (its
-- staging was purged) cannot load. Staging is kept after a load so that a Clear
-- of any task can redo just that task (see README, "Re-running a day").
CREATE TABLE IF NOT EXISTS {schema}.stage_plans (
    day        date        NOT NULL,
    run_id     text        NOT NULL,
    source     text        NOT NULL,   -- the source's name, as in images.source
    files      integer     NOT NULL,
    shards     integer     NOT NULL,
    planned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, run_id)
);
CREATE INDEX IF NOT EXISTS load_runs_day_source ON {schema}.load_runs (day, source);

CREATE TABLE IF NOT EXISTS {schema}.stage_shards (
    day     date    NOT NULL,
    run_id  text    NOT NULL,
    shard   integer NOT NULL,
    images  integer NOT NULL,
    faces   integer NOT NULL,
    rejects integer NOT NULL,
    PRIMARY KEY (day, run_id, shard)
);

CREATE TABLE IF NOT EXISTS {schema}.stage_images (
    LIKE {schema}.images,
    run_id text    NOT NULL,
    shard  integer NOT NULL,
    PRIMARY KEY (day, run_id, image_id)
);

CREATE TABLE IF NOT EXISTS {schema}.stage_faces (
    LIKE {schema}.faces,
    run_id text    NOT NULL,
    shard  integer NOT NULL,
    img_width  integer NOT NULL,
    img_height integer NOT NULL,
    PRIMARY KEY (day, run_id, image_id, face_no)
);

CREATE TABLE IF NOT EXISTS {schema}.stage_rejects (
    LIKE {schema}.rejects,
    run_id text    NOT NULL,
    shard  integer NOT NULL,
    PRIMARY KEY (day, run_id, uri)
);

-- Enrolled people and their reference embeddings (facepipe.enrol), same model
-- as the faces. Keys are derived from the name and the photo's content, so
-- enrolling the same folder again changes nothing.
CREATE TABLE IF NOT EXISTS {schema}.people (
    person_id   uuid        PRIMARY KEY,   -- uuid5 of the name
    name        text        NOT NULL UNIQUE,
    enrolled_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {schema}.person_refs (
    person_id      uuid    NOT NULL REFERENCES {schema}.people ON DELETE CASCADE,
    content_sha256 text    NOT NULL,
    uri            text    NOT NULL,
    box_x          integer NOT NULL,
    box_y          integer NOT NULL,
    box_w          integer NOT NULL,
    box_h          integer NOT NULL,
    model          text    NOT NULL,
    embedding      {vector_type} NOT NULL,
    enrolled_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, content_sha256)
);

-- Report tables, keyed by the report's day and rewritten whole for that day.
CREATE TABLE IF NOT EXISTS {schema}.report_daily_summary (
    day             date    NOT NULL,
    source          text    NOT NULL,
    camera          text    NOT NULL,   -- '' when the photos carry no EXIF model
    images          integer NOT NULL,
    duplicates      integer NOT NULL,
    faces           integer NOT NULL,
    rejects         integer NOT NULL,
    faces_per_image numeric(6, 2),
    PRIMARY KEY (day, source, camera)
);

CREATE TABLE IF NOT EXISTS {schema}.report_sightings (
    day         date     NOT NULL,
    image_id    uuid     NOT NULL,
    face_no     smallint NOT NULL,
    person_id   uuid     NOT NULL,
    person_name text     NOT NULL,
    distance    real     NOT NULL,
    uri         text     NOT NULL,
    source      text     NOT NULL,
    camera      text,
    captured_at timestamp,
    box_x integer NOT NULL, box_y integer NOT NULL, box_w integer NOT NULL, box_h integer NOT NULL,
    ref_sha256  text     NOT NULL,   -- the person_refs photo that matched best
    PRIMARY KEY (day, image_id, face_no)
);

CREATE TABLE IF NOT EXISTS {schema}.report_recurring_unknowns (
    day         date     NOT NULL,
    image_id    uuid     NOT NULL,
    face_no     smallint NOT NULL,
    neighbours  integer  NOT NULL,   -- close faces in the lookback window (capped)
    days_seen   integer  NOT NULL,   -- distinct earlier days among them
    first_seen  date     NOT NULL,
    uri         text     NOT NULL,
    source      text     NOT NULL,
    captured_at timestamp,
    box_x integer NOT NULL, box_y integer NOT NULL, box_w integer NOT NULL, box_h integer NOT NULL,
    PRIMARY KEY (day, image_id, face_no)
);

-- Which load each day's reports saw (the newest load_runs.run_no of the day when they
-- were built): a day loaded again since, or never reported, is reported by the next
-- face_report run even when Airflow dropped its Asset event (two events at once).
CREATE TABLE IF NOT EXISTS {schema}.report_runs (
    day         date        PRIMARY KEY,
    load_run_no bigint      NOT NULL,
    built_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {schema}.report_person_days (
    day         date    NOT NULL,   -- the report's day; the range ends here
    person_id   uuid    NOT NULL,
    person_name text    NOT NULL,
    seen_day    date    NOT NULL,
    source      text    NOT NULL,
    sightings   integer NOT NULL,
    best_distance real  NOT NULL,
    PRIMARY KEY (day, person_id, seen_day, source)
);

-- Forgotten photos and faces (facepipe.privacy): what no later run may index again.
-- A photo is known by its content's SHA-256 only, a face by that and its box in
-- the photo's full-size upright pixels: no vector, name or URI is kept. A run's
-- shard drops a suppressed photo (it becomes a reject, reason forgotten) or face
-- before it reaches staging; enrolment skips a suppressed reference photo.
CREATE TABLE IF NOT EXISTS {schema}.suppressions (
    content_sha256 text        NOT NULL,
    box_x integer, box_y integer, box_w integer, box_h integer,   -- all NULL: the whole photo
    op_no          bigint      NOT NULL,   -- the forget's row in audit
    suppressed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((box_x IS NULL) = (box_w IS NULL) AND (box_y IS NULL) = (box_h IS NULL) AND (box_x IS NULL) = (box_y IS NULL))
);
CREATE INDEX IF NOT EXISTS suppressions_sha ON {schema}.suppressions (content_sha256);

-- Intersection over union of two boxes (x, y, w, h): 1 for the same box, 0 apart.
CREATE OR REPLACE FUNCTION {schema}.box_iou(x1 integer, y1 integer, w1 integer, h1 integer,
                                            x2 integer, y2 integer, w2 integer, h2 integer)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN iw <= 0 OR ih <= 0 THEN 0.0
                ELSE iw::float8 * ih / (w1::float8 * h1 + w2::float8 * h2 - iw::float8 * ih) END
    FROM (SELECT least(x1 + w1, x2 + w2) - greatest(x1, x2) AS iw,
                 least(y1 + h1, y2 + h2) - greatest(y1, y2) AS ih) AS overlap
$$;

-- Only for a forget with block_future (opt-in, facepipe.privacy): one vector per
-- forgotten person (the mean of their reference photos, or their identity's centroid),
-- against which each later night's faces are compared before staging. It is the one
-- biometric datum a forget keeps, and only when asked; deleting the row lifts the block.
CREATE TABLE IF NOT EXISTS {schema}.forget_templates (
    op_no      bigint      PRIMARY KEY,   -- the forget's row in audit
    template   {vector_type} NOT NULL,
    threshold  real        NOT NULL,      -- a face this close (the model's distance) is not indexed
    created_at timestamptz NOT NULL DEFAULT now()
);
