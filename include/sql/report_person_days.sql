-- 4. For each enrolled person, the days and sources they were seen on over the
-- %(range_days)s days up to the report's day, from the sightings reports.
INSERT INTO {schema}.report_person_days
    (day, person_id, person_name, seen_day, source, sightings, best_distance)
SELECT %(day)s, s.person_id, s.person_name, s.day, s.source, count(*), min(s.distance)
FROM {schema}.report_sightings AS s
WHERE s.day > %(day)s::date - %(range_days)s AND s.day <= %(day)s
GROUP BY s.person_id, s.person_name, s.day, s.source;
