-- Every reference photo already enrolled, with the name it belongs to.
SELECT r.person_id, r.content_sha256, p.name
FROM {schema}.person_refs AS r
JOIN {schema}.people AS p USING (person_id);
