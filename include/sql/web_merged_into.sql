-- The identity an identity merged away went into: the newest merge (or naming that
-- merged) that took it in, and whether that one still exists (the Faces view follows
-- the chain to an old link's identity).
SELECT a.identity_id,
       EXISTS (SELECT 1 FROM {schema}.identities AS i WHERE i.identity_id = a.identity_id) AS alive
FROM {schema}.audit AS a
WHERE a.other_id = %(identity_id)s AND a.op IN ('merge', 'name') AND a.identity_id IS NOT NULL
ORDER BY a.op_no DESC
LIMIT 1;
