-- The photos with a face of these identities: those a rename, merge or move rewrites.
SELECT DISTINCT day, image_id
FROM {schema}.face_identity
WHERE identity_id = ANY(%(ids)s::bigint[])
ORDER BY day, image_id;
