-- Staged copies of a forgotten photo become the run's rejects (reason forgotten), so
-- that the run's plan is still accounted for if one of its tasks is cleared.
WITH gone AS (
    DELETE FROM {schema}.stage_images
    WHERE content_sha256 = ANY(%(shas)s)
    RETURNING day, run_id, shard, uri, bytes, arrived_at, source
)
INSERT INTO {schema}.stage_rejects (day, run_id, shard, uri, reason, detail, bytes, arrived_at, source)
SELECT day, run_id, shard, uri, 'forgotten', %(detail)s, bytes, arrived_at, source FROM gone
ON CONFLICT DO NOTHING;
