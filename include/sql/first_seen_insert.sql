-- A file's arrival is decided once; a plan running at the same time that decided
-- first keeps its value (both decide the same way).
INSERT INTO {schema}.first_seen (uri, arrived_at, why, seen_at)
SELECT uri, arrived_at, why, %(seen_at)s
FROM unnest(%(uris)s::text[], %(arrived)s::timestamptz[], %(why)s::text[]) AS n (uri, arrived_at, why)
ON CONFLICT (uri) DO NOTHING;
