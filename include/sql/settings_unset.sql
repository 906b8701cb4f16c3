-- Remove a deployment setting's value (each process then reads its environment, else the
-- default); returns the value it had.
DELETE FROM {schema}.settings WHERE name = %(name)s RETURNING value
