-- The faces a search of a day range (of one source, if given) would have to read.
-- facepipe.search only EXPLAINs this, never runs it: the planner's row estimate
-- (per-partition statistics, after pruning to the day range) chooses the exact or the IVF path.
SELECT 1
FROM {schema}.faces AS f
WHERE f.day BETWEEN %(since)s AND %(until)s
  AND (%(source)s::text IS NULL OR f.source = %(source)s::text);
