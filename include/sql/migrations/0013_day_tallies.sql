-- Revision 0013: what each (day, source) holds now, kept as the tables change.
--
-- day_tallies: per (day, source), the photos and videos loaded, the duplicates, the faces
-- (video_faces of them from videos) and the rejects the tables hold now: counted again from
-- that day's partition (include/sql/day_tally_refresh.sql) by every change that adds or
-- removes such rows (a load or re-run of the day, a forget touching it), and removed with
-- the day by retention. The Faces view's Days and `facepipe status` read it instead of
-- counting a month of face rows (bench/web.py: 440 ms at 1M faces). No vector, no name.
CREATE TABLE IF NOT EXISTS {schema}.day_tallies (
    day          date        NOT NULL,
    source       text,  -- NULL: a reject of a load before sources were recorded
    images       integer     NOT NULL,
    duplicates   integer     NOT NULL,
    videos       integer     NOT NULL,
    faces        integer     NOT NULL,
    video_faces  integer     NOT NULL,
    rejects      integer     NOT NULL,
    counted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS day_tallies_day ON {schema}.day_tallies (day);
