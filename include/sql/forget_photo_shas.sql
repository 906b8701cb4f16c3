-- The contents a URI stands for: every loaded, staged or enrolled photo at that URI
-- (a file replaced in place has had several).
SELECT content_sha256 FROM {schema}.images WHERE uri = %(uri)s
UNION SELECT content_sha256 FROM {schema}.stage_images WHERE uri = %(uri)s
UNION SELECT content_sha256 FROM {schema}.person_refs WHERE uri = %(uri)s;
