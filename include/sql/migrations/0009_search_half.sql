-- Revision 0009: a search generation's IVFFlat index is on its vectors as halfvec (half the
-- index, about a third less time per list read, bench/HISTORY.md section 9): a search reads
-- its candidates by the halfvec distance and re-ranks them by the full vector's
-- (facepipe.search.query). Generations built before are indexed on the vector itself.
ALTER TABLE {schema}.search_generations ADD COLUMN IF NOT EXISTS half boolean NOT NULL DEFAULT false;
