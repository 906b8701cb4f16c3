INSERT INTO {schema}.planned_days (source, day)
VALUES (%(source)s, %(day)s)
ON CONFLICT (source, day) DO NOTHING;
