-- Of these people, those with no reference photo (a report can never name them).
SELECT p.name
FROM {schema}.people AS p
WHERE p.name = ANY(%(names)s)
  AND NOT EXISTS (SELECT 1 FROM {schema}.person_refs AS r WHERE r.person_id = p.person_id)
ORDER BY p.name;
