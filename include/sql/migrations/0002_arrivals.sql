-- Revision 0002: arrivals and plans (loose files' first sighting, planned days,
-- one plan row per run).

-- Folder sources: when each loose file (outside the dated folders) was first seen
-- and the arrival time decided then, which fixes its day (facepipe.ingest.first_seen).
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

-- One row per planned run of a day: the source it lists and how many files and
-- shards its manifest holds. load checks the staged rows against it, so a run
-- never publishes less than its plan listed; a run without a plan row (its
-- staging was purged) cannot load. Staging is kept after a load so that a Clear
-- of any task can redo just that task (see docs/operating.md, "Re-running a day").
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
