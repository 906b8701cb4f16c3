-- 'merge' questions for pairs of identities (a < b) whose centroids are within the
-- threshold, never asked twice; evidence gets the centroid distance and face counts.
INSERT INTO {schema}.suggestions (kind, identity_id, other_id, evidence)
SELECT 'merge', a.identity_id, b.identity_id,
       p.evidence::jsonb || jsonb_build_object(
           'centroid_distance', round((a.centroid {op} b.centroid)::numeric, 4),
           'faces', a.faces, 'other_faces', b.faces)
FROM unnest(%(a)s::bigint[], %(b)s::bigint[], %(evidence)s::text[]) AS p (a, b, evidence)
JOIN {schema}.identities AS a ON a.identity_id = p.a
JOIN {schema}.identities AS b ON b.identity_id = p.b
WHERE (a.centroid {op} b.centroid) < %(threshold)s
ON CONFLICT DO NOTHING;
