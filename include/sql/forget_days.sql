-- The days whose reports a forget rebuilds: days of the faces and photos it removes,
-- and report days that name the person or show the identity.
SELECT day FROM forget_faces
UNION SELECT day FROM {schema}.images WHERE content_sha256 = ANY(%(shas)s)
UNION SELECT day FROM {schema}.report_sightings WHERE person_id = %(person_id)s OR identity_id = %(identity_id)s
UNION SELECT day FROM {schema}.report_person_days WHERE person_id = %(person_id)s
UNION SELECT day FROM {schema}.report_recurring_unknowns WHERE identity_id = %(identity_id)s;
