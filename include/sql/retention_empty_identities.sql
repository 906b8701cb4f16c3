-- Retention: unnamed identities among %(ids)s left without any face (their faces
-- were all on expired days). Named identities stay (people are kept until forgotten).
DELETE FROM {schema}.identities AS i
WHERE i.person_id IS NULL
  AND i.identity_id = ANY(%(ids)s::bigint[])
  AND NOT EXISTS (SELECT 1 FROM {schema}.face_identity AS a WHERE a.identity_id = i.identity_id);
