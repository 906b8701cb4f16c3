-- Revision 0004: privacy. The audit trail (which replaced people_ops: its rows move
-- here, in Python, in this revision), forgotten photos and faces, and block_future
-- templates; report runs record the parameters they were built with.

-- The audit trail: every people operation (manual or nightly), every forget and every
-- retention run, one row per transaction (facepipe.core.audit). It holds no vector, no
-- name of a forgotten person and no photo's URI: counts, identity numbers, days.
CREATE TABLE IF NOT EXISTS {schema}.audit (
    op_no       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    who         text        NOT NULL,   -- OS user, or airflow:<dag_id>/<run_id>
    op          text        NOT NULL,   -- assign, name, merge, move, link, forget_person, forget_photo, retention
    identity_id bigint,                 -- the identity acted on (kept after a merge deleted it)
    other_id    bigint,                 -- merge: the identity merged in; move: the one the face left
    rows        jsonb       NOT NULL DEFAULT jsonb_build_object(),   -- rows removed or changed, per table
    detail      jsonb       NOT NULL DEFAULT jsonb_build_object()
);
CREATE INDEX IF NOT EXISTS audit_identity ON {schema}.audit (identity_id);
ALTER TABLE {schema}.audit ADD COLUMN IF NOT EXISTS rows jsonb NOT NULL DEFAULT jsonb_build_object();

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

-- the parameters the day's reports were built with, so a forget rebuilds them alike
ALTER TABLE {schema}.report_runs ADD COLUMN IF NOT EXISTS params jsonb;
