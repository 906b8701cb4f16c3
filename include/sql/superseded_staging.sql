-- Other runs of this (day, source) that have loaded: the load being committed
-- supersedes them, so their staged rows go. Runs still in flight keep theirs.
SELECT p.run_id
FROM {schema}.stage_plans AS p
WHERE p.day = %(day)s AND p.source = %(source)s AND p.run_id <> %(run_id)s
  AND EXISTS (SELECT 1 FROM {schema}.load_runs AS l
              WHERE l.day = p.day AND l.run_id = p.run_id AND l.source = p.source);
