-- Revision 0006: the search structure over every day (facepipe.search.generations).
-- A generation is one table, <schema>.search_sealed_g<N>, holding a copy of the faces of
-- every day loaded when it was built (key, source, box, vector) under one HNSW graph.
-- It is built beside the current one and swapped in; search reads the current
-- generation for the days it holds as loaded then, and each day loaded since (an open
-- day) through that day's own partition and HNSW index. Forget and retention delete
-- their rows from it in their own transaction.
CREATE TABLE IF NOT EXISTS {schema}.search_generations (
    gen           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state         text        NOT NULL CHECK (state IN ('building', 'current', 'retired', 'discarded')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    built_at      timestamptz,
    retired_at    timestamptz,
    faces         bigint      NOT NULL DEFAULT 0,   -- rows copied in
    removed       bigint      NOT NULL DEFAULT 0,   -- rows forget and retention deleted since
    spoiled       boolean     NOT NULL DEFAULT false,   -- a forget or retention ran while it was building
    build_seconds real,
    reason        text        NOT NULL DEFAULT ''   -- why it was built: open days, stale rows, forget, first
);
-- at most one current generation
CREATE UNIQUE INDEX IF NOT EXISTS search_generations_current
    ON {schema}.search_generations (state) WHERE state = 'current';

-- The days a generation holds, each as of its newest load then (load_runs.run_no): a
-- later load of the day (a re-run, a Clear, another source) makes the day open again.
CREATE TABLE IF NOT EXISTS {schema}.search_sealed_days (
    gen    bigint NOT NULL REFERENCES {schema}.search_generations ON DELETE CASCADE,
    day    date   NOT NULL,
    run_no bigint NOT NULL,
    faces  bigint NOT NULL,
    PRIMARY KEY (gen, day)
);
