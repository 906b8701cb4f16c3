-- Enrolled people without an identity: the unnamed identity nearest to any of
-- their reference photos, within the threshold (NULL: none, a new one is made).
SELECT p.person_id, best.identity_id, best.distance
FROM {schema}.people AS p
LEFT JOIN LATERAL (
    SELECT c.identity_id, c.distance
    FROM {schema}.person_refs AS r
    CROSS JOIN LATERAL (
        SELECT i.identity_id, i.centroid {op} r.embedding AS distance, i.person_id
        FROM {schema}.identities AS i
        ORDER BY i.centroid {op} r.embedding
        LIMIT 5
    ) AS c
    WHERE r.person_id = p.person_id AND c.person_id IS NULL AND c.distance < %(threshold)s
    ORDER BY c.distance
    LIMIT 1
) AS best ON true
WHERE NOT EXISTS (SELECT 1 FROM {schema}.identities AS i WHERE i.person_id = p.person_id)
ORDER BY p.name;
