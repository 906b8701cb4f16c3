-- The days whose reports a forget rebuilds: days of the faces and photos it removes,
-- report days that name the person, count a sighting on a day it touches (the
-- per-person table covers 30 days before), or show an identity that loses a face (a
-- recurring unknown's page shows its best crops from other days), and days whose
-- sightings matched a forgotten reference photo.
SELECT day FROM forget_faces
UNION SELECT day FROM {schema}.images WHERE content_sha256 = ANY(%(shas)s)
UNION SELECT day FROM {schema}.report_sightings
      WHERE person_id = %(person_id)s OR identity_id = ANY(%(lost)s::bigint[])
         OR ref_sha256 IN (SELECT content_sha256 FROM {schema}.suppressions WHERE op_no = %(op_no)s)
UNION SELECT day FROM {schema}.report_person_days
      WHERE person_id = %(person_id)s OR seen_day = ANY(%(touched)s::date[])
UNION SELECT day FROM {schema}.report_recurring_unknowns WHERE identity_id = ANY(%(lost)s::bigint[]);
