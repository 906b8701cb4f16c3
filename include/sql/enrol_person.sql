INSERT INTO {schema}.people (person_id, name)
VALUES (%(person_id)s, %(name)s)
ON CONFLICT (person_id) DO NOTHING;
