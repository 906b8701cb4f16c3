-- The latest day a plan has listed for this source (NULL before the first plan).
SELECT max(day) FROM {schema}.planned_days WHERE source = %(source)s;
