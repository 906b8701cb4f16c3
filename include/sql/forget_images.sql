-- The images a forget touches (a face of theirs goes, or the whole photo), loaded,
-- staged or enrolled: their ids and URIs are looked for in the report folder's files.
SELECT image_id, uri FROM {schema}.images
WHERE (day, image_id) IN (SELECT day, image_id FROM forget_faces) OR content_sha256 = ANY(%(shas)s)
UNION
SELECT image_id, uri FROM {schema}.stage_images
WHERE content_sha256 IN (SELECT content_sha256 FROM {schema}.suppressions WHERE op_no = %(op_no)s)
UNION
SELECT NULL, uri FROM {schema}.person_refs
WHERE person_id = %(person_id)s OR content_sha256 = ANY(%(shas)s);
