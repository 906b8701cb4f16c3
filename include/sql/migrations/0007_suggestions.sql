-- Revision 0007: suggestions. What the nightly assignment was not sure of, asked of a
-- person instead of guessed (facepipe.people.suggestions):
--   kind 'face':  is this face (day, image_id, box) identity identity_id?
--   kind 'merge': are identities identity_id and other_id one person?
-- evidence: the distances and counts the assignment saw (no vector, no name, no URI).
-- state: open, then yes or no with who answered and when. A "no" is kept: the same
-- question is never asked again, and a "no" merge pair is never merged automatically.
-- Nothing is merged or named without an answer. Forget deletes the rows of the faces
-- and identities it removes; a deleted identity takes its suggestions with it.
CREATE TABLE IF NOT EXISTS {schema}.suggestions (
    suggestion_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind IN ('face', 'merge')),
    identity_id   bigint      NOT NULL REFERENCES {schema}.identities ON DELETE CASCADE,
    other_id      bigint      REFERENCES {schema}.identities ON DELETE CASCADE,   -- merge only
    day           date,                                                          -- face only
    image_id      uuid,
    box_x integer, box_y integer, box_w integer, box_h integer,
    evidence      jsonb       NOT NULL DEFAULT '{{}}',
    state         text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'yes', 'no')),
    asked_at      timestamptz NOT NULL DEFAULT now(),
    answered_by   text,
    answered_at   timestamptz,
    CHECK ((kind = 'face' AND day IS NOT NULL AND image_id IS NOT NULL AND box_h IS NOT NULL AND other_id IS NULL)
        OR (kind = 'merge' AND other_id IS NOT NULL AND day IS NULL AND identity_id < other_id)),
    CHECK ((state = 'open') = (answered_at IS NULL))
);
-- one question per face and identity, one per pair of identities, whatever its answer
CREATE UNIQUE INDEX IF NOT EXISTS suggestions_face
    ON {schema}.suggestions (day, image_id, box_x, box_y, box_w, box_h, identity_id) WHERE kind = 'face';
CREATE UNIQUE INDEX IF NOT EXISTS suggestions_merge
    ON {schema}.suggestions (identity_id, other_id) WHERE kind = 'merge';
CREATE INDEX IF NOT EXISTS suggestions_open ON {schema}.suggestions (state, suggestion_id);
CREATE INDEX IF NOT EXISTS suggestions_other ON {schema}.suggestions (other_id) WHERE other_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS suggestions_identity ON {schema}.suggestions (identity_id);
