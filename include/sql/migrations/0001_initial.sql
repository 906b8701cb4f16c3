-- Revision 0001: facepipe's tables as first released (commit 6e5149b).
-- Written with IF NOT EXISTS so that a database created before the schema was
-- versioned (any earlier facepipe) is adopted as it is, every row kept.
-- {schema} and {vector_type} are bound with psycopg.sql (Identifier / SQL) from
-- facepipe.core.specs only; embedding_space (created just before, in Python) says
-- which model's vectors this schema holds.

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

-- Staging, written by process(shard) and consumed by load(day). Rows are keyed
-- by run so that two runs never see each other's work. Which run loaded a day
-- is in load_runs, not in the rows, so a re-run leaves identical rows.
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

ALTER TABLE {schema}.stage_manifest ADD COLUMN IF NOT EXISTS planned_at timestamptz NOT NULL DEFAULT now();

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

-- Enrolled people and their reference embeddings (facepipe.people.enrol), same model
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
