-- Revision 0012's downgrade: the reader view of identities as revision 0005 made it.
CREATE VIEW {reader}.identities AS
SELECT i.identity_id, p.name AS person_name, i.faces, seen.days_seen, seen.first_seen, seen.last_seen,
       i.created_at, i.updated_at
FROM {schema}.identities i
LEFT JOIN {schema}.people p ON p.person_id = i.person_id
LEFT JOIN (SELECT identity_id, count(DISTINCT day) AS days_seen, min(day) AS first_seen, max(day) AS last_seen
           FROM {schema}.face_identity GROUP BY identity_id) seen ON seen.identity_id = i.identity_id;
