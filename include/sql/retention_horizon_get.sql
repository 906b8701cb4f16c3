-- The horizon retention applied: the first day kept (facepipe.core.days.stored_horizon).
SELECT before, keep_days, set_by, set_at FROM {schema}.retention_horizon
