-- A forget's rows of the per-person table: the person's, on every report day.
DELETE FROM {schema}.report_person_days
WHERE person_id = %(person_id)s;
