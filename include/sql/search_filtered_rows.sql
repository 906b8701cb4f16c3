-- The faces a source-filtered search would have to read. facepipe.search only
-- EXPLAINs this, never runs it: the planner's row estimate (per-partition
-- statistics, after pruning to the day range) chooses the exact or the HNSW path.
SELECT 1
FROM {schema}.faces AS f
WHERE f.day BETWEEN %(since)s AND %(until)s
  AND f.source = %(source)s;
