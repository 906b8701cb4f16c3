-- A retention run's horizon: it only moves forward (a later day), never back.
INSERT INTO {schema}.retention_horizon AS h (before, keep_days, set_by, set_at)
VALUES (%(before)s, %(keep_days)s, %(who)s, now())
ON CONFLICT (one) DO UPDATE
    SET before = excluded.before, keep_days = excluded.keep_days, set_by = excluded.set_by, set_at = excluded.set_at
    WHERE h.before < excluded.before
