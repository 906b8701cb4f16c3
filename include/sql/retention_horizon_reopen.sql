-- `facepipe retention --reopen-from DAY`: the horizon set back to DAY (only back; audited).
UPDATE {schema}.retention_horizon SET before = %(before)s, set_by = %(who)s, set_at = now()
WHERE before > %(before)s
RETURNING before
