-- Revision 0010: the deployment's settings and the retention horizon, beside the data.
--
-- settings: one row per deployment setting given a value for the whole deployment
-- (`facepipe settings set`); every process reads it (facepipe.core.config). A setting
-- without a row comes from each process's environment, else its default. Each change is
-- also an audit row (op 'setting': who, when, the old and the new value).
CREATE TABLE IF NOT EXISTS {schema}.settings (
    name    text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    value   text        NOT NULL,
    set_by  text        NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now()
);

-- retention_horizon: the first day retention keeps, as the last retention run applied it
-- (facepipe.privacy.retention, in the transaction that dropped the days before it). No load,
-- assignment, report or search touches a day before it, whatever a process's settings say
-- (facepipe.core.days). It only moves forward, except by `facepipe retention --reopen-from`
-- (audited). One row, or none while retention never ran.
CREATE TABLE IF NOT EXISTS {schema}.retention_horizon (
    one        boolean     PRIMARY KEY DEFAULT true CHECK (one),
    before     date        NOT NULL,
    keep_days  integer     NOT NULL,
    set_by     text        NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);
-- A deployment whose retention ran before this revision, or that went back below it and up
-- again: the horizon and the settings come back from the audit trail (the revision's Python
-- replays it: facepipe.core.migrations.versions 0010).
