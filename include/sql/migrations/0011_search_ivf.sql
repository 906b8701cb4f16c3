-- Revision 0011: the search structure over every day is an inverted file facepipe keeps itself
-- (facepipe.search.ivf), in place of the generations of 0006 and 0009. A version is a set of
-- centroids trained on a sample of the faces and a table, <schema>.search_lists_v<N>
-- (partitioned by list-id range, made by facepipe.search.ivf), holding every face's key,
-- source and vector under its nearest centroid's list. Loads, forgets and retention change
-- its rows in their own transactions; new centroids are trained rarely, online.
CREATE TABLE IF NOT EXISTS {schema}.search_ivf (
    version       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state         text        NOT NULL CHECK (state IN ('building', 'current', 'retiring', 'retired', 'discarded')),
    model         text        NOT NULL,
    lists         integer     NOT NULL CHECK (lists > 0),
    bounds        integer[]   NOT NULL,             -- each partition's first list id
    cells         integer[]   NOT NULL,             -- each coarse cell's first list id
    trained_faces bigint      NOT NULL,             -- faces when its centroids were trained
    started_at    timestamptz NOT NULL DEFAULT now(),
    built_at      timestamptz,
    retired_at    timestamptz,
    build_seconds real,
    reason        text        NOT NULL DEFAULT ''   -- why it was built: first, growth, asked for
);
-- at most one current version
CREATE UNIQUE INDEX IF NOT EXISTS search_ivf_current ON {schema}.search_ivf (state) WHERE state = 'current';

-- A version's centroids: list_id 0..lists-1, each dim float32 little-endian (the client
-- caches them per version and finds a query's nearest lists itself).
CREATE TABLE IF NOT EXISTS {schema}.search_centroids (
    version  bigint  NOT NULL REFERENCES {schema}.search_ivf ON DELETE CASCADE,
    list_id  integer NOT NULL,
    centroid bytea   NOT NULL,
    PRIMARY KEY (version, list_id)
);
